"""Soft mask suppression: lower a mask's score by its overlap with better ones.

Box NMS (or Soft-NMS, which keeps them at a lower score) leaves pairs of
masks that cover one object (nuclei: a mask and a
second, shifted or merged one). Both get a high MaskIoU (each overlaps the
object well), so a mask score ranks the second copy with the good masks,
and COCO counts it as a false positive at every IoU threshold once the
first took the object. The decay below multiplies each mask's score by
``1 - max IoU`` with the masks of its class ranked above it (a linear
kernel, no parameter; SOLOv2's Matrix NMS decays by the same overlap).
Per class by default (COCO's AP is per class); class-agnostic when a
mask of the wrong class over an object is the usual second copy.
"""
from typing import List, Optional, Union

import torch
from torch import Tensor

#: Pixels per chunk of the pairwise intersection (memory N x chunk floats).
CHUNK_PIXELS = 1 << 16

#: What a ``mask_overlap_decay`` option takes besides True / False.
OVERLAP_DECAY_MODES = ('per_class', 'class_agnostic')


def overlap_decay_mode(value: Union[bool, str, None]) -> Optional[str]:
    """A ``mask_overlap_decay`` option as ``None`` (off) or a mode.

    Args:
        value (bool | str | None): False / None (off), True (the same as
            ``'per_class'``) or one of :data:`OVERLAP_DECAY_MODES`.

    Returns:
        str | None: ``None``, ``'per_class'`` or ``'class_agnostic'``.
    """
    if value is False or value is None:
        return None
    if value is True:
        return 'per_class'
    if isinstance(value, str) and value in OVERLAP_DECAY_MODES:
        return value
    raise ValueError(
        f'mask_overlap_decay={value!r}: use False, True (the same as '
        f"'per_class') or one of {OVERLAP_DECAY_MODES}.")


def pairwise_mask_ious(masks: Tensor, chunk: int = CHUNK_PIXELS) -> Tensor:
    """IoU of every pair of binary masks.

    Args:
        masks (Tensor): (N, H, W) bool (or 0/1) masks.
        chunk (int): Pixels summed at a time.

    Returns:
        Tensor: (N, N) float32 IoU; 0 where both masks are empty.
    """
    flat = masks.reshape(len(masks), -1)
    inter = flat.new_zeros((len(masks), len(masks)), dtype=torch.float32)
    for start in range(0, flat.shape[1], chunk):
        part = flat[:, start:start + chunk].float()
        inter += part @ part.T
    area = inter.diagonal()
    union = area[:, None] + area[None] - inter
    return torch.where(union > 0, inter / union.clamp(min=1),
                       torch.zeros_like(inter))


def mask_overlap_decay(masks: Tensor, scores: Tensor,
                       labels: Optional[Tensor]) -> Tensor:
    """``1 - max IoU`` of each mask with the same-class masks ranked above.

    A mask ranks above another if its score is higher, or equal and it
    comes first (so an exact copy with the same score is decayed to 0 once,
    not both kept).

    Args:
        masks (Tensor): (N, H, W) binary masks (pasted, as the metric sees
            them).
        scores (Tensor): (N,) the scores that rank them.
        labels (Tensor, optional): (N,) classes; masks of other classes
            never decay each other (COCO's AP is per class). ``None``:
            class-agnostic, every mask ranked above counts.

    Returns:
        Tensor: (N,) factors in [0, 1], on ``scores``' device and dtype;
        1 for a mask that no better same-class mask overlaps.
    """
    num = len(scores)
    num_labels = num if labels is None else labels.shape[0]
    if masks.shape[0] != num or num_labels != num:
        raise ValueError(f'{masks.shape[0]} masks, {num} scores and '
                         f'{num_labels} labels: give one of each per '
                         'detection (labels=None for a class-agnostic '
                         'decay).')
    factor = scores.new_ones(num)
    if num < 2:
        return factor
    ious = pairwise_mask_ious(masks.to(scores.device))
    index = torch.arange(num, device=scores.device)
    # above[i, j]: j ranks above i
    higher = scores[None, :] > scores[:, None]
    tied_before = (scores[None, :] == scores[:, None]) & (
        index[None, :] < index[:, None])
    above = higher | tied_before
    if labels is not None:
        labels = labels.to(scores.device)
        above &= labels[None, :] == labels[:, None]
    worst = torch.where(above, ious, torch.zeros_like(ious)).amax(dim=1)
    return (1 - worst).clamp(0, 1).to(scores.dtype)


def decay_mask_scores(results_list: List,
                      mode: str,
                      mask_thr: float = 0.5,
                      write_scores: bool = False) -> List:
    """Multiply each image's ``mask_scores`` by :func:`mask_overlap_decay`.

    Args:
        results_list (list[InstanceData]): Per image, with pasted ``masks``
            (N, H, W; bool, or soft maps binarised at ``mask_thr``),
            ``mask_scores`` and ``labels``.
        mode (str): ``'per_class'`` or ``'class_agnostic'``.
        mask_thr (float): Binarising threshold of soft masks.
        write_scores (bool): Also set ``scores`` to the decayed mask score
            (for models whose ``scores`` are the mask scores).

    Returns:
        list[InstanceData]: The same objects, changed in place.
    """
    if mode not in OVERLAP_DECAY_MODES:
        raise ValueError(f'mode={mode!r}: use one of {OVERLAP_DECAY_MODES}.')
    for res in results_list:
        if len(res) == 0:
            continue
        masks = res.masks
        if masks.dtype != torch.bool:
            masks = masks >= mask_thr
        labels = res.labels if mode == 'per_class' else None
        res.mask_scores = res.mask_scores * mask_overlap_decay(
            masks, res.mask_scores, labels)
        if write_scores:
            res.scores = res.mask_scores
    return results_list
