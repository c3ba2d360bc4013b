"""Boxes of varied quality around the ground truth (MaskIoU training RoIs)."""
from typing import Optional, Sequence

import torch
from torch import Tensor


def jitter_boxes(boxes: Tensor,
                 num_per_box: int,
                 max_offset: float,
                 img_shape: Sequence[int],
                 generator: Optional[torch.Generator] = None) -> Tensor:
    """Random boxes around each box: shifted and rescaled, clipped.

    Each copy moves its centre by ``u * max_offset`` times the box's width
    (x) and height (y) and scales its width and height by
    ``exp(u * max_offset)``, each ``u`` drawn uniformly from [-1, 1]
    independently. The result is clipped to the image and kept at least
    one pixel wide and high.

    Args:
        boxes (Tensor): (G, 4) boxes, ``x1, y1, x2, y2``.
        num_per_box (int): Copies per box, N.
        max_offset (float): Largest shift (fraction of the box's size) and
            largest log-scale change; 0 returns N exact copies.
        img_shape (tuple[int]): ``(height, width)`` of the image.
        generator (torch.Generator, optional): Source of the draws;
            ``None`` uses torch's global one.

    Returns:
        Tensor: (G * N, 4), the N copies of box 0 first.
    """
    boxes = boxes.detach().float()
    copies = boxes.repeat_interleave(num_per_box, dim=0)
    if not len(copies):
        return copies
    u = torch.rand(
        copies.shape[0], 4, generator=generator,
        device='cpu').to(copies.device) * 2 - 1
    size = (copies[:, 2:] - copies[:, :2]).clamp(min=1)
    centre = (copies[:, :2] + copies[:, 2:]) / 2 + u[:, :2] * max_offset * size
    size = size * torch.exp(u[:, 2:] * max_offset)
    out = torch.cat([centre - size / 2, centre + size / 2], dim=1)
    height, width = img_shape[:2]
    limit = out.new_tensor([width, height, width, height])
    out = torch.minimum(out.clamp(min=0), limit)
    # a box pushed off an edge keeps one pixel inside the image
    out[:, :2] = torch.minimum(out[:, :2], limit[:2] - 1)
    out[:, 2:] = torch.maximum(out[:, 2:], out[:, :2] + 1)
    return out
