"""Soft mask suppression: lower a mask's score by its overlap with better ones.

Box NMS (or Soft-NMS, which keeps them at a lower score) leaves pairs of
masks that cover one object (nuclei: a mask and a
second, shifted or merged one). Both get a high MaskIoU (each overlaps the
object well), so a mask score ranks the second copy with the good masks,
and COCO counts it as a false positive at every IoU threshold once the
first took the object. The decay below multiplies each mask's score by
``1 - max IoU`` with the masks of its class ranked above it (a linear
kernel, no parameter; SOLOv2's Matrix NMS decays by the same overlap).
"""
import torch
from torch import Tensor

#: Pixels per chunk of the pairwise intersection (memory N x chunk floats).
CHUNK_PIXELS = 1 << 16


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
                       labels: Tensor) -> Tensor:
    """``1 - max IoU`` of each mask with the same-class masks ranked above.

    A mask ranks above another if its score is higher, or equal and it
    comes first (so an exact copy with the same score is decayed to 0 once,
    not both kept).

    Args:
        masks (Tensor): (N, H, W) binary masks (pasted, as the metric sees
            them).
        scores (Tensor): (N,) the scores that rank them.
        labels (Tensor): (N,) classes; masks of other classes never decay
            each other (COCO's AP is per class).

    Returns:
        Tensor: (N,) factors in [0, 1], on ``scores``' device and dtype;
        1 for a mask that no better same-class mask overlaps.
    """
    num = len(scores)
    if masks.shape[0] != num or labels.shape[0] != num:
        raise ValueError(f'{masks.shape[0]} masks, {num} scores and '
                         f'{labels.shape[0]} labels: give one of each per '
                         'detection.')
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
    above &= labels[None, :] == labels[:, None]
    worst = torch.where(above, ious, torch.zeros_like(ious)).amax(dim=1)
    return (1 - worst).clamp(0, 1).to(scores.dtype)
