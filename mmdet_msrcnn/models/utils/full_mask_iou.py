"""Full-image mask IoU: targets and inputs of the detection-level scorer.

Single-stage and query-based detectors (RTMDet-Ins, SOLOv2, CondInst,
Mask2Former) hand out each detection's mask as a full-image binary map, so
the MaskIoU target needs no RoI bookkeeping: count pixels. The functions
here work on such maps:

* :func:`full_mask_ious`: the target of each detection, the IoU of its mask
  with the best-matching whole ground-truth instance of its class;
* :func:`masks_to_boxes`: the tight box of each mask (for hosts whose
  results carry no boxes, e.g. SOLOv2);
* :func:`mask_box_grids`: each mask resampled on its box's ``M x M`` grid
  with RoIAlign, the mask input of the MaskIoU head.
"""
from typing import Sequence, Union

import torch
from mmcv.ops import roi_align
from mmdet.structures.mask import BaseInstanceMasks
from torch import Tensor

#: Mask elements of one float block in :func:`full_mask_ious` and
#: :func:`mask_box_grids` (64 MiB of float32); larger batches of masks are
#: processed in row chunks.
_BLOCK_ELEMS = 1 << 24


def gt_masks_as_tensor(masks: Union[Tensor, BaseInstanceMasks],
                       device: torch.device) -> Tensor:
    """Ground-truth masks of one image as a bool tensor.

    Args:
        masks (Tensor | BitmapMasks | PolygonMasks): Shape (G, H, W);
            polygons are rasterised at the masks' own ``(height, width)``.
        device (torch.device): Where the tensor goes.

    Returns:
        Tensor: Bool, shape (G, H, W).
    """
    if isinstance(masks, Tensor):
        return masks.to(device=device).bool()
    return masks.to_tensor(dtype=torch.bool, device=device)


def _rows_per_block(pixels: int) -> int:
    return max(1, _BLOCK_ELEMS // max(pixels, 1))


def full_mask_ious(pred_masks: Tensor, pred_labels: Tensor, gt_masks: Tensor,
                   gt_labels: Tensor, img_shape: Sequence[int]) -> Tensor:
    """Exact IoU of each predicted mask with its best same-class instance.

    Both sets of masks are full-image maps of the same image in the same
    frame (the network input, possibly padded). They are cropped to the
    valid image area ``img_shape`` (the padding is not part of the image),
    flattened, and the intersections of every (detection, instance) pair
    are counted with one matrix product of the binary maps; unions follow
    from the areas. The target of a detection with label ``c`` is the
    largest IoU over the instances of class ``c`` (a detection that
    duplicates a hit gets the same IoU as the hit), and 0 when the image
    has no instance of class ``c`` (a wrong-class or background detection,
    or an image without ground truth).

    Args:
        pred_masks (Tensor): Predicted binary masks (bool, or numbers with
            non-zero as foreground), shape (N, Hp, Wp), Hp >= h, Wp >= w.
        pred_labels (Tensor): Their classes, shape (N,).
        gt_masks (Tensor): Ground-truth binary masks, shape (G, Hg, Wg),
            Hg >= h, Wg >= w.
        gt_labels (Tensor): Their classes, shape (G,).
        img_shape (Sequence[int]): ``(h, w)`` of the valid image area.

    Returns:
        Tensor: Float32 targets in [0, 1], shape (N,), on the device of
        ``pred_masks``.
    """
    h, w = int(img_shape[0]), int(img_shape[1])
    device = pred_masks.device
    num_dets = pred_masks.shape[0]
    for name, masks in (('pred_masks', pred_masks), ('gt_masks', gt_masks)):
        if masks.dim() != 3 or masks.shape[-2] < h or masks.shape[-1] < w:
            raise ValueError(
                f'full_mask_ious: {name} of shape {tuple(masks.shape)} do '
                f'not cover the image area {(h, w)}; both mask sets must be '
                'full-image maps in the network-input frame.')
    targets = torch.zeros(num_dets, dtype=torch.float32, device=device)
    if num_dets == 0 or gt_masks.shape[0] == 0:
        return targets
    pixels = h * w
    # float32 counts are exact up to 2**24 pixels
    dtype = torch.float32 if pixels <= (1 << 24) else torch.float64
    gt = (gt_masks[:, :h, :w].to(device) != 0).flatten(1).to(dtype)
    gt_area = gt.sum(1)
    same = pred_labels.to(device).long()[:, None] == gt_labels.to(
        device).long()[None, :]
    step = _rows_per_block(pixels)
    for start in range(0, num_dets, step):
        pred = (pred_masks[start:start + step, :h, :w]
                != 0).flatten(1).to(dtype)
        inter = pred @ gt.T
        union = pred.sum(1)[:, None] + gt_area[None, :] - inter
        ious = torch.where(union > 0, inter / union.clamp(min=1),
                           torch.zeros_like(inter))
        ious = ious * same[start:start + step]
        targets[start:start + step] = ious.amax(1).float()
    return targets


def masks_to_boxes(masks: Tensor) -> Tensor:
    """Tight box of each binary mask, ``(x1, y1, x2, y2)`` in pixels.

    Pixel ``(i, j)`` covers ``[j, j + 1) x [i, i + 1)``, so ``x2`` / ``y2``
    are one past the last foreground column / row. An empty mask gets the
    box ``(0, 0, 0, 0)``.

    Args:
        masks (Tensor): Shape (N, H, W), bool or numbers (non-zero is
            foreground).

    Returns:
        Tensor: Float32, shape (N, 4).
    """
    num, height, width = masks.shape
    boxes = masks.new_zeros((num, 4), dtype=torch.float32)
    if num == 0:
        return boxes
    fg = masks != 0
    cols, rows = fg.any(1), fg.any(2)  # (N, W), (N, H)
    col_idx = torch.arange(width, device=masks.device)
    row_idx = torch.arange(height, device=masks.device)
    boxes[:, 0] = torch.where(cols, col_idx, width).amin(1).float()
    boxes[:, 1] = torch.where(rows, row_idx, height).amin(1).float()
    boxes[:, 2] = torch.where(cols, col_idx + 1, 0).amax(1).float()
    boxes[:, 3] = torch.where(rows, row_idx + 1, 0).amax(1).float()
    empty = ~cols.any(1)
    boxes[empty] = 0
    return boxes


def mask_box_grids(masks: Tensor, boxes: Tensor, size: int) -> Tensor:
    """Resample each full-image mask on its own box's ``size x size`` grid.

    RoIAlign (``aligned=True``, adaptive sampling) over the mask as a float
    map: each grid cell holds the mean of the mask over the cell, so the
    grid is a soft mask in [0, 1] whatever the box size.

    Args:
        masks (Tensor): One image's masks, shape (N, H, W), bool or float.
        boxes (Tensor): Boxes in the masks' pixel frame, shape (N, 4).
        size (int): Side M of the grid.

    Returns:
        Tensor: Shape (N, M, M), float32, in [0, 1].
    """
    num = masks.shape[0]
    if num == 0:
        return masks.new_zeros((0, size, size), dtype=torch.float32)
    step = _rows_per_block(masks.shape[-2] * masks.shape[-1])
    grids = []
    for start in range(0, num, step):
        block = masks[start:start + step].float()[:, None]
        box = boxes[start:start + step].float().to(block.device)
        index = torch.arange(
            box.shape[0], dtype=box.dtype, device=box.device)[:, None]
        grids.append(
            roi_align(block, torch.cat([index, box], 1), (size, size), 1.0, 0,
                      'avg', True)[:, 0])
    # bilinear weights may sum to a hair above 1
    return torch.cat(grids).clamp(0, 1)
