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

The ``'second_chance'`` kernel spares a lower mask the part of the decay
that its own, better estimated quality earns: when the mask above is
estimated to miss a strict IoU threshold that the lower one passes, the
lower one is the object's only hit there (COCO averages AP over the
thresholds 0.5-0.95, one ranking for all).
"""
from typing import List, Optional, Union

import torch
from torch import Tensor

#: Pixels per chunk of the pairwise intersection (memory N x chunk floats).
CHUNK_PIXELS = 1 << 16

#: What a ``mask_overlap_decay`` option takes besides True / False.
OVERLAP_DECAY_MODES = ('per_class', 'class_agnostic')
#: Kernels of the decay: ``1 - IoU``, or that with the second chance.
OVERLAP_DECAY_KERNELS = ('linear', 'second_chance')


def overlap_decay_kernel(kernel: Optional[str],
                         mode: Optional[str]) -> str:
    """Check a ``mask_overlap_decay_kernel`` option against the mode.

    Args:
        kernel (str, optional): One of :data:`OVERLAP_DECAY_KERNELS`, or
            ``None`` (``'linear'``).
        mode (str, optional): The parsed ``mask_overlap_decay``.

    Returns:
        str: The kernel.
    """
    if kernel is None:
        return 'linear'
    if kernel not in OVERLAP_DECAY_KERNELS:
        raise ValueError(f'mask_overlap_decay_kernel={kernel!r}: use one of '
                         f'{OVERLAP_DECAY_KERNELS}.')
    if mode is None:
        raise ValueError(
            f'mask_overlap_decay_kernel={kernel!r} is set but the decay is '
            'off; set mask_overlap_decay=True (or a mode) too, or drop the '
            'kernel.')
    return kernel


def strict_share(ious: Tensor) -> Tensor:
    """Share of the IoU range 0.5-1 that a mask of IoU ``ious`` covers.

    ``(iou - 0.5) / 0.5`` clamped to [0, 1]: about the share of COCO's
    thresholds 0.5-0.95 the mask passes.
    """
    return ((ious - 0.5) / 0.5).clamp(0, 1)


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


def mask_overlap_decay(masks: Tensor,
                       scores: Tensor,
                       labels: Optional[Tensor],
                       qualities: Optional[Tensor] = None) -> Tensor:
    """``1 - max IoU`` of each mask with the same-class masks ranked above.

    A mask ranks above another if its score is higher, or equal and it
    comes first (so an exact copy with the same score is decayed to 0 once,
    not both kept).

    With ``qualities`` (the second-chance kernel), mask ``i`` below mask
    ``j`` keeps the share of its strict thresholds that ``j`` is estimated
    to miss: its factor from ``j`` is ``1 - IoU_ij * (1 - c_ij)``, with
    ``c_ij = max(s_i - s_j, 0) / s_i`` (0 where ``s_i = 0``) and
    ``s = strict_share(qualities)``; the factor is the smallest over the
    masks above. Without it, ``c = 0``: ``1 - max IoU``.

    Args:
        masks (Tensor): (N, H, W) binary masks (pasted, as the metric sees
            them).
        scores (Tensor): (N,) the scores that rank them.
        labels (Tensor, optional): (N,) classes; masks of other classes
            never decay each other (COCO's AP is per class). ``None``:
            class-agnostic, every mask ranked above counts.
        qualities (Tensor, optional): (N,) each mask's estimated IoU with
            its object (``mask_ious``), for the second-chance kernel.

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
    if qualities is not None and qualities.shape[0] != num:
        raise ValueError(f'{qualities.shape[0]} qualities for {num} scores: '
                         'give one per detection.')
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
    if qualities is None:
        pair_factor = 1 - ious
    else:  # [i, j]: the share of i's strict thresholds that j misses
        share = strict_share(qualities.to(ious))
        gain = (share[:, None] - share[None, :]).clamp(min=0)
        chance = torch.where(share[:, None] > 0,
                             gain / share[:, None].clamp(min=1e-6),
                             torch.zeros_like(gain))
        pair_factor = 1 - ious * (1 - chance)
    pair_factor = torch.where(above, pair_factor, torch.ones_like(ious))
    return pair_factor.amin(dim=1).clamp(0, 1).to(scores.dtype)


def decay_mask_scores(results_list: List,
                      mode: str,
                      mask_thr: float = 0.5,
                      write_scores: bool = False,
                      kernel: str = 'linear') -> List:
    """Multiply each image's ``mask_scores`` by :func:`mask_overlap_decay`.

    Args:
        results_list (list[InstanceData]): Per image, with pasted ``masks``
            (N, H, W; bool, or soft maps binarised at ``mask_thr``),
            ``mask_scores`` and ``labels``.
        mode (str): ``'per_class'`` or ``'class_agnostic'``.
        mask_thr (float): Binarising threshold of soft masks.
        write_scores (bool): Also set ``scores`` to the decayed mask score
            (for models whose ``scores`` are the mask scores).
        kernel (str): ``'linear'``, or ``'second_chance'`` (reads each
            image's ``mask_ious`` as the qualities).

    Returns:
        list[InstanceData]: The same objects, changed in place.
    """
    if mode not in OVERLAP_DECAY_MODES:
        raise ValueError(f'mode={mode!r}: use one of {OVERLAP_DECAY_MODES}.')
    if kernel not in OVERLAP_DECAY_KERNELS:
        raise ValueError(
            f'kernel={kernel!r}: use one of {OVERLAP_DECAY_KERNELS}.')
    for res in results_list:
        if len(res) == 0:
            continue
        masks = res.masks
        if masks.dtype != torch.bool:
            masks = masks >= mask_thr
        labels = res.labels if mode == 'per_class' else None
        qualities = res.mask_ious if kernel == 'second_chance' else None
        res.mask_scores = res.mask_scores * mask_overlap_decay(
            masks, res.mask_scores, labels, qualities)
        if write_scores:
            res.scores = res.mask_scores
    return results_list
