"""Maskness: a mask's own confidence, SOLOv2's zero-cost mask quality."""
from torch import Tensor


def mask_maskness(mask_probs: Tensor, thr: float = 0.5) -> Tensor:
    """Mean probability of each mask over its binarised foreground.

    SOLOv2 multiplies its classification score by this number; it needs no
    learned head. A mask without foreground has maskness 0.

    Args:
        mask_probs (Tensor): Mask probabilities, shape (N, M, M).
        thr (float): Binarisation threshold (``>= thr`` is foreground).
            Defaults to 0.5.

    Returns:
        Tensor: Shape (N,), in [thr, 1] for non-empty masks, else 0.
    """
    probs = mask_probs.flatten(1).float()
    fg = probs >= thr
    total = (probs * fg).sum(1)
    count = fg.sum(1)
    return (total / count.clamp(min=1)).to(mask_probs.dtype)
