"""Vectorised MaskIoU training targets.

The target of a positive RoI is the IoU between its predicted mask of the
ground-truth class, binarised on the *probability* at ``mask_thr_binary``,
and the *whole* ground-truth instance, also where it lies outside the RoI.
The whole instance is the instance as the evaluator sees it: its part inside
the image ``[0, W] x [0, H]``. Bitmaps are image-sized, so already clipped;
a polygon may reach outside the image (an object cut by the border), and
only its part inside the image counts, for the whole area and for the area
inside a box alike.

Both masks live on the RoI's ``M x M`` grid, where the predicted mask is the
only place the pasted prediction can be non-zero. So

    inter = sum(pred & target)                    (grid cells, inside the RoI)
    gt    = sum(target) + outside * M*M / (w * h)  (grid cells)
    IoU   = inter / (sum(pred) + gt - inter)

where ``outside`` is the exact pixel area of the instance outside the RoI
(whole area minus area inside the box) and ``M*M / (w*h)`` converts pixels
to grid cells. The in-box part is the same rasterisation as the mask target,
so the only approximation is that of the mask target itself; no division by
an in-box area ratio is needed (which blows up when the ratio is small).

The areas inside boxes are exact for fractional boxes:

* bitmaps: bilinear interpolation of a summed-area table (the integral of a
  piecewise-constant image is bilinear inside each pixel), built per
  instance over its non-zero extent only;
* polygons: a closed-form integral over the polygon's edges (Green's
  theorem with the edge clipped to the quadrant ``x <= a, y <= b``), then
  inclusion-exclusion over the four box corners. The in-image area is the
  same with the box ``(0, 0, W, H)``, once per instance.

Everything runs on the RoIs' device with no loop over RoIs; the only loops
are over the ground-truth bitmaps (one cropped table each) and over polygon
parts while packing them into one tensor.
"""
from typing import List, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from mmdet.structures.mask import BitmapMasks, PolygonMasks, mask_target
from mmengine.config import ConfigDict
from torch import Tensor

from .full_mask_iou import masks_to_boxes

# Summed-area tables of more than this many elements in all are built and
# queried in several groups of ground-truth masks.
_SAT_CHUNK_ELEMS = 1 << 24


def _nonzero_extents(occupancy: Tensor) -> Tensor:
    """First and one-past-last non-zero index along the last dimension.

    Args:
        occupancy (Tensor): Shape (N, L), uint8.

    Returns:
        Tensor: ``(first, stop)`` of each row, shape (N, 2); ``(0, 0)`` for a
        row without a non-zero entry.
    """
    length = occupancy.shape[-1]
    index = torch.arange(length, device=occupancy.device)
    occupied = occupancy > 0
    first = torch.where(occupied, index, length).amin(-1)
    stop = torch.where(occupied, index + 1, 0).amax(-1)
    return torch.stack([first.clamp(max=stop), stop], -1)


def _mask_extents(occupied: Tensor, used: Tensor) -> Tensor:
    """Bounding rows and columns, and largest value, of some masks.

    Args:
        occupied (Tensor): Masks, uint8 (non-zero = foreground), shape
            (G, H, W).
        used (Tensor): Indices of the masks to measure, shape (U,).

    Returns:
        Tensor: ``(top, bottom, left, right, max)`` per mask, ``bottom``
        and ``right`` one past the last non-zero row / column (zeros for an
        empty mask), shape (U, 5).
    """
    num = used.numel()
    row_max = occupied.amax(2)[used]
    col_max = occupied.amax(1)[used]
    if row_max.shape[1] != col_max.shape[1]:  # pad to one length
        length = max(row_max.shape[1], col_max.shape[1])
        row_max, col_max = (F.pad(t, (0, length - t.shape[1]))
                            for t in (row_max, col_max))
    both = torch.cat([row_max, col_max])
    ext = _nonzero_extents(both)
    return torch.cat([ext[:num], ext[num:], row_max.amax(1, True).long()], 1)


def _bitmap_areas(masks: Sequence[Tensor],
                  gt_inds: Sequence[Tensor],
                  boxes: Sequence[Tensor],
                  binarize: bool = False) -> Tuple[Tensor, Tensor]:
    """Area of each RoI's bitmap inside its box, and the whole area.

    The summed-area table of a mask only spans the mask's non-zero extent
    (rows ``y0:y1``, columns ``x0:x1``), so its cost follows the instance
    size rather than the image size. A full-image table entry ``[j, i]``
    equals the cropped table's entry ``[clamp(j - y0, 0, y1 - y0),
    clamp(i - x0, 0, x1 - x0)]``, so the lookups, and the results, are those
    of full-image tables. The tables of all images are packed into one
    tensor and looked up at once.

    Args:
        masks (Sequence[Tensor]): Per image, binary instance masks,
            shape (G_i, H_i, W_i).
        gt_inds (Sequence[Tensor]): Per image, the index of each RoI's
            ground truth, shape (R_i,).
        boxes (Sequence[Tensor]): Per image, the RoI boxes in pixels,
            clipped to the image, shape (R_i, 4).
        binarize (bool): Count the pixels ``> 0`` instead of summing the
            values (uint8 masks are converted crop by crop).

    Returns:
        tuple[Tensor, Tensor]: Area inside the box (clamped at 0) and whole
        mask area, float32, each of shape (sum R_i,), in image order.
    """
    nums = [int(g.numel()) for g in gt_inds]
    total = sum(nums)
    inside = boxes[0].new_zeros(total, dtype=torch.float32)
    whole = boxes[0].new_zeros(total, dtype=torch.float32)
    starts = np.cumsum([0] + nums[:-1]).tolist()
    # the arithmetic dtype of each image (exact integer tables)
    groups = {}
    for i, m in enumerate(masks):
        if nums[i]:
            dtype = torch.float32 if m.shape[-2] * m.shape[-1] < (
                1 << 24) else torch.float64
            groups.setdefault(dtype, []).append(i)
    for dtype, imgs in groups.items():
        crops, extents, table_ids, limits = [], [], [], []
        for i in imgs:
            m = masks[i]
            if binarize and m.dtype not in (torch.bool, torch.uint8):
                m = m > 0
            # for bool and uint8, non-zero is > 0; uint8 masks are
            # binarised crop by crop below (a new full-size mask would
            # cost its page faults)
            m = m.contiguous()  # crops are strided views below
            occupied = (m if m.dtype in (torch.bool, torch.uint8) else
                        m != 0).view(torch.uint8)
            used, local = torch.unique(gt_inds[i], return_inverse=True)
            extents.append(_mask_extents(occupied, used))
            table_ids.append(local + len(crops))
            crops += [(m, g) for g in used.tolist()]
            limits.append(
                torch.tensor([m.shape[-1] - 1, m.shape[-2] - 1],
                             dtype=dtype,
                             device=m.device).expand(nums[i], 2))
        extents = torch.cat(extents).tolist()
        table_ids = torch.cat(table_ids)
        limits = torch.cat(limits)
        rows_out = torch.cat([
            torch.arange(starts[i], starts[i] + nums[i],
                         device=inside.device) for i in imgs
        ])
        box = torch.cat([boxes[i] for i in imgs])
        xs = box[:, [0, 2, 0, 2]].to(dtype)
        ys = box[:, [1, 1, 3, 3]].to(dtype)
        x0 = torch.minimum(xs.floor().clamp(min=0), limits[:, :1])
        y0 = torch.minimum(ys.floor().clamp(min=0), limits[:, 1:])
        fx = xs - x0
        fy = ys - y0
        x0 = x0.long()
        y0 = y0.long()
        start = 0
        while start < len(crops):
            # one group of cropped tables, packed into one flat tensor
            layout, size, stop = [], 0, start
            while stop < len(crops):
                top, bottom, left, right, _ = extents[stop]
                numel = (bottom - top + 1) * (right - left + 1)
                if layout and size + numel > _SAT_CHUNK_ELEMS:
                    break
                layout.append([size, top, left, bottom - top, right - left])
                size += numel
                stop += 1
            flat = crops[start][0].new_zeros(size, dtype=dtype)
            for (first, top, left, rows, cols), (m, g), ext in zip(
                    layout, crops[start:stop], extents[start:stop]):
                if rows and cols:  # row 0 and column 0 stay 0
                    # table[1:, 1:] and the crop, as strided views
                    table = flat.as_strided((rows, cols), (cols + 1, 1),
                                            first + cols + 2)
                    height, width = m.shape[-2:]
                    crop = m.as_strided(
                        (rows, cols), (width, 1),
                        m.storage_offset() + (g * height + top) * width +
                        left)
                    if binarize and ext[4] > 1:  # uint8 values above 1
                        crop = crop > 0
                    table.copy_(crop)
                    table.cumsum_(0).cumsum_(1)
            layout = torch.tensor(layout, device=flat.device)
            if start == 0 and stop == len(crops):  # one group: every RoI
                in_group = slice(None)
                offset, top, left, rows, cols = (
                    v[:, None] for v in layout[table_ids].unbind(1))
            else:
                in_group = (table_ids >= start) & (table_ids < stop)
                offset, top, left, rows, cols = (
                    v[:, None]
                    for v in layout[table_ids[in_group] - start].unbind(1))
            # full-table row j / column i -> cropped table row / column
            gy0, gx0 = y0[in_group] - top, x0[in_group] - left
            width = cols + 1
            row0 = torch.minimum(gy0.clamp(min=0), rows) * width + offset
            row1 = torch.minimum(
                (gy0 + 1).clamp(min=0), rows) * width + offset
            col0 = torch.minimum(gx0.clamp(min=0), cols)
            col1 = torch.minimum((gx0 + 1).clamp(min=0), cols)
            s00, s01 = flat[row0 + col0], flat[row0 + col1]
            s10, s11 = flat[row1 + col0], flat[row1 + col1]
            gfx, gfy = fx[in_group], fy[in_group]
            corner = (
                s00 * (1 - gfx) * (1 - gfy) + s01 * gfx * (1 - gfy) +
                s10 * (1 - gfx) * gfy + s11 * gfx * gfy)
            area = corner[:, 3] - corner[:, 2] - corner[:, 1] + corner[:, 0]
            out_rows = rows_out[in_group]
            inside[out_rows] = area.float()
            whole[out_rows] = flat[offset + (rows + 1) * width -
                                   1].squeeze(1).float()
            start = stop
    return inside.clamp(min=0), whole


def bitmap_areas_in_boxes(masks: Tensor, gt_inds: Tensor,
                          boxes: Tensor) -> Tensor:
    """Exact area of each RoI's ground-truth bitmap inside the RoI box.

    Args:
        masks (Tensor): Binary instance masks of one image, shape (G, H, W).
        gt_inds (Tensor): Index of each RoI's ground truth, shape (R,).
        boxes (Tensor): RoI boxes (x1, y1, x2, y2) in pixels, clipped to the
            image, shape (R, 4). Pixel ``(j, i)`` covers
            ``[i, i + 1] x [j, j + 1]``.

    Returns:
        Tensor: Areas in pixels, float32, shape (R,).
    """
    return _bitmap_areas([masks], [gt_inds], [boxes])[0]


def pack_polygon_edges(polygons: PolygonMasks,
                       device: torch.device) -> Tuple[Tensor, Tensor]:
    """Pack the edges of every instance's polygon parts into one tensor.

    Each part is oriented so that its shoelace area is positive; parts with
    fewer than 3 points have no area and contribute no edges. Instances are
    padded with zero-length edges, which contribute nothing.

    Args:
        polygons (PolygonMasks): Polygon masks of one image (G instances).
        device (torch.device): Where the packed edges go.

    Returns:
        tuple[Tensor, Tensor]:

        - edges (Tensor): (x1, y1, x2, y2) of each edge, shape (G, E, 4).
        - areas (Tensor): Area of each instance in the whole plane, also
          outside the image (sum of its parts' areas, as
          ``PolygonMasks.areas``), shape (G,). See
          :func:`polygon_areas_in_image` for the part inside the image.
    """
    per_inst, areas = [], []
    for parts in polygons.masks:
        inst_edges, inst_area = [], 0.0
        for part in parts:
            pts = np.asarray(part, dtype=np.float64).reshape(-1)
            if pts.size % 2 or pts.size < 6:
                continue
            pts = pts.reshape(-1, 2)
            nxt = np.roll(pts, -1, axis=0)
            signed = 0.5 * float(
                np.sum(pts[:, 0] * nxt[:, 1] - nxt[:, 0] * pts[:, 1]))
            if signed < 0:
                pts, nxt = nxt[::-1], pts[::-1]
            inst_edges.append(np.concatenate([pts, nxt], axis=1))
            inst_area += abs(signed)
        per_inst.append(
            np.concatenate(inst_edges) if inst_edges else np.zeros((0, 4)))
        areas.append(inst_area)
    num_edges = max([e.shape[0] for e in per_inst] + [1])
    packed = np.zeros((len(per_inst), num_edges, 4), dtype=np.float32)
    for i, e in enumerate(per_inst):
        packed[i, :e.shape[0]] = e
    return (torch.from_numpy(packed).to(device),
            torch.tensor(areas, dtype=torch.float32, device=device))


def _quadrant_areas(edges: Tensor, a: Tensor, b: Tensor) -> Tensor:
    """Area of a polygon inside the quadrant ``x <= a, y <= b``.

    With counter-clockwise (positive shoelace) orientation in image
    coordinates, the area of the region equals ``-sum_e int min(y, b) dx``
    over the edges clipped to ``x <= a``, because the length of a vertical
    slice below ``b`` is a signed sum of ``min(y, b)`` over its crossings.

    Args:
        edges (Tensor): Edges (x1, y1, x2, y2), shape (R, E, 4).
        a (Tensor): Quadrant x bound, shape (R, K).
        b (Tensor): Quadrant y bound, shape (R, K).

    Returns:
        Tensor: Areas, shape (R, K).
    """
    x1, y1, x2, y2 = (edges[..., i].unsqueeze(1) for i in range(4))
    a = a.unsqueeze(-1)
    b = b.unsqueeze(-1)
    dx = x2 - x1
    slope = (y2 - y1) / torch.where(dx == 0, torch.ones_like(dx), dx)
    u = torch.minimum(x1, a)
    v = torch.minimum(x2, a)
    p = y1 + (u - x1) * slope - b
    q = y1 + (v - x1) * slope - b
    # mean of max(y - b, 0) along the segment, p and q its end values
    # (pp - qp) * (pp + qp), not pp * pp - qp * qp: no cancellation for
    # the large p, q of vertices far outside the image (x or y ~ 1e6)
    pp, qp = p.clamp(min=0), q.clamp(min=0)
    diff = p - q
    close = diff.abs() < 1e-6
    above = torch.where(close, ((p + q) / 2).clamp(min=0),
                        (pp - qp) * (pp + qp) /
                        torch.where(close, torch.ones_like(diff), diff) / 2)
    mean_min = (p + q) / 2 - above + b
    return -((v - u) * mean_min).sum(-1)


def _polygon_box_areas(edges: Tensor, boxes: Tensor) -> Tensor:
    """Signed area of polygons inside boxes, by inclusion-exclusion.

    Args:
        edges (Tensor): Oriented edges (x1, y1, x2, y2) of the polygon of
            each box, float64, shape (R, E, 4).
        boxes (Tensor): Boxes (x1, y1, x2, y2), float64, shape (R, 4).

    Returns:
        Tensor: Areas in pixels, float64, not clamped, shape (R,).
    """
    xs = boxes[:, [0, 2, 0, 2]]
    ys = boxes[:, [1, 1, 3, 3]]
    corner = _quadrant_areas(edges, xs, ys)
    return corner[:, 3] - corner[:, 2] - corner[:, 1] + corner[:, 0]


def polygon_areas_in_boxes(edges: Tensor, gt_inds: Tensor,
                           boxes: Tensor) -> Tensor:
    """Exact area of each RoI's ground-truth polygon inside the RoI box.

    The polygon is not clipped to the image here: pass boxes clipped to the
    image to get the area of the in-image part inside the box.

    Args:
        edges (Tensor): Packed edges from :func:`pack_polygon_edges`,
            shape (G, E, 4).
        gt_inds (Tensor): Index of each RoI's ground truth, shape (R,).
        boxes (Tensor): RoI boxes (x1, y1, x2, y2), shape (R, 4).

    Returns:
        Tensor: Areas in pixels, shape (R,).
    """
    if gt_inds.numel() == 0:
        return boxes.new_zeros(0)
    area = _polygon_box_areas(edges[gt_inds].double(), boxes.double())
    return area.float().clamp(min=0)


def _keep_shoelace_within(edges: Tensor, areas: Tensor, clipped: Tensor,
                          height: int, width: int) -> Tensor:
    """In-image areas: the shoelace area where no vertex leaves the image.

    Args:
        edges (Tensor): Packed edges, shape (G, E, 4).
        areas (Tensor): Whole-plane (shoelace) areas, shape (G,).
        clipped (Tensor): Areas inside ``(0, 0, width, height)`` from the
            edges, shape (G,).
        height (int): Image height H.
        width (int): Image width W.

    Returns:
        Tensor: In-image areas, at least 0, float32, shape (G,).
    """
    xs, ys = edges[..., 0::2], edges[..., 1::2]
    within = ((xs >= 0) & (xs <= width) & (ys >= 0) &
              (ys <= height)).flatten(1).all(1)
    return torch.where(within, areas.float(), clipped.float().clamp(min=0))


def polygon_areas_in_image(edges: Tensor, areas: Tensor, height: int,
                           width: int) -> Tensor:
    """Exact area of each instance's polygon inside the image.

    The area inside the box ``(0, 0, width, height)``, computed as
    :func:`polygon_areas_in_boxes` does, once per instance: the parts are
    combined as for the whole-plane area (each part oriented to a positive
    shoelace area, the parts' areas summed). An instance whose vertices all
    lie in the image keeps its shoelace area ``areas`` (the same number as
    without clipping).

    Args:
        edges (Tensor): Packed edges from :func:`pack_polygon_edges`,
            shape (G, E, 4).
        areas (Tensor): Whole-plane areas from :func:`pack_polygon_edges`,
            shape (G,).
        height (int): Image (mask canvas) height H.
        width (int): Image (mask canvas) width W.

    Returns:
        Tensor: Areas in pixels inside ``[0, W] x [0, H]``, float32,
        shape (G,).
    """
    image = torch.tensor([0., 0., width, height],
                         dtype=torch.float64,
                         device=edges.device).expand(edges.shape[0], 4)
    clipped = _polygon_box_areas(edges.double(), image)
    return _keep_shoelace_within(edges, areas, clipped, height, width)


def _polygon_areas_in_and_out(masks: PolygonMasks, gt_inds: Tensor,
                              boxes: Tensor) -> Tuple[Tensor, Tensor]:
    """In-box and whole areas of polygons, both clipped to the image.

    The RoI boxes (clipped to the image) and, per instance, the image box
    go through one :func:`_polygon_box_areas` call: the results are those of
    :func:`polygon_areas_in_boxes` and :func:`polygon_areas_in_image`.

    Args:
        masks (PolygonMasks): Polygon masks of one image (G instances), of
            size ``masks.height x masks.width``.
        gt_inds (Tensor): Index of each RoI's ground truth, shape (R,).
        boxes (Tensor): RoI boxes, shape (R, 4); clipped to the image here
            (a no-op for boxes from :func:`clip_boxes_to_masks`).

    Returns:
        tuple[Tensor, Tensor]: Area of the in-image polygon inside each box
        (at most the whole area) and the in-image area of the instance, in
        pixels, float32, each of shape (R,).
    """
    height, width = masks.height, masks.width
    edges, areas = pack_polygon_edges(masks, boxes.device)
    num_rois, num_gts = gt_inds.numel(), edges.shape[0]
    if num_rois == 0:
        empty = boxes.new_zeros(0, dtype=torch.float32)
        return empty, empty.clone()
    image = boxes.new_tensor([0., 0., width, height])
    # box & image: the in-image polygon inside the box
    boxes = torch.minimum(boxes.clamp(min=0), image[[2, 3, 2, 3]])
    rows = torch.cat([gt_inds, torch.arange(num_gts, device=gt_inds.device)])
    area = _polygon_box_areas(
        edges[rows].double(),
        torch.cat([boxes, image.expand(num_gts, 4)]).double())
    inside, clipped = area.split([num_rois, num_gts])
    whole = _keep_shoelace_within(edges, areas, clipped, height,
                                  width)[gt_inds]
    # equal areas may differ by rounding; a self-intersecting part may have
    # negative winding in the image outside the box
    inside = torch.minimum(inside.float().clamp(min=0), whole)
    return inside, whole


def gt_areas_in_and_out(gt_masks, gt_inds: Tensor,
                        boxes: Tensor) -> Tuple[Tensor, Tensor]:
    """Ground-truth area inside each RoI box and the whole instance area.

    Both are areas of the instance clipped to the image ``[0, W] x [0, H]``
    (the mask canvas): bitmaps are image-sized, polygons are clipped (see
    :func:`polygon_areas_in_image`), so the area inside a box never exceeds
    the whole area.

    Args:
        gt_masks (BitmapMasks | PolygonMasks | Tensor): Instance masks of one
            image (G instances); a tensor is taken as bitmaps (G, H, W).
        gt_inds (Tensor): Index of each RoI's ground truth, shape (R,).
        boxes (Tensor): RoI boxes clipped to the image, shape (R, 4).

    Returns:
        tuple[Tensor, Tensor]: Area inside the box and whole (in-image)
        area, in pixels, each of shape (R,).
    """
    inside, whole = batch_gt_areas_in_and_out([gt_masks], [gt_inds],
                                              [boxes])
    return inside[0], whole[0]


def batch_gt_areas_in_and_out(
        gt_masks: Sequence, gt_inds: Sequence[Tensor],
        boxes: Sequence[Tensor]) -> Tuple[List[Tensor], List[Tensor]]:
    """:func:`gt_areas_in_and_out` of the images of a batch.

    The bitmaps of all images are looked up together (see
    :func:`_bitmap_areas`); the results are those of one call per image.

    Args:
        gt_masks (Sequence): Per image, BitmapMasks, PolygonMasks or a
            (G_i, H_i, W_i) tensor.
        gt_inds (Sequence[Tensor]): Per image, the index of each RoI's
            ground truth, shape (R_i,).
        boxes (Sequence[Tensor]): Per image, the RoI boxes clipped to the
            image, shape (R_i, 4).

    Returns:
        tuple[list[Tensor], list[Tensor]]: Per image, the area inside the
        box and the whole area, in pixels, each of shape (R_i,).
    """
    results = [None] * len(gt_masks)
    bitmap_imgs = []
    for i, (masks, inds, box) in enumerate(zip(gt_masks, gt_inds, boxes)):
        device = box.device
        if isinstance(masks, PolygonMasks):
            results[i] = _polygon_areas_in_and_out(masks, inds, box)
            continue
        if isinstance(masks, BitmapMasks):
            bitmaps = torch.from_numpy(np.ascontiguousarray(
                masks.masks)).to(device)
        elif isinstance(masks, Tensor):
            bitmaps = masks.to(device)
        else:
            raise TypeError(
                'MaskIoU targets need BitmapMasks, PolygonMasks or a '
                '(G, H, W) tensor as ground-truth masks, got '
                f'{type(masks).__name__}. Load the dataset with '
                '`with_mask=True` in LoadAnnotations.')
        if inds.numel() == 0 or bitmaps.shape[0] == 0:
            zeros = box.new_zeros(inds.numel())
            results[i] = (zeros, zeros.clone())
            continue
        bitmap_imgs.append((i, bitmaps, inds, box))
    if bitmap_imgs:
        idx, bitmaps, inds, box = zip(*bitmap_imgs)
        inside, whole = _bitmap_areas(bitmaps, inds, box, binarize=True)
        inside = torch.minimum(inside, whole)
        nums = [len(b) for b in box]
        for i, area_in, area_all in zip(idx, inside.split(nums),
                                        whole.split(nums)):
            results[i] = (area_in, area_all)
    return [r[0] for r in results], [r[1] for r in results]


def mask_iou_from_areas(pred_probs: Tensor, mask_targets: Tensor,
                        boxes: Tensor, area_inside: Tensor,
                        area_whole: Tensor,
                        mask_thr_binary: float = 0.5) -> Tensor:
    """IoU of binarised predicted masks with whole ground-truth instances.

    Args:
        pred_probs (Tensor): Predicted mask probabilities (after sigmoid) of
            the ground-truth class, shape (R, M, M).
        mask_targets (Tensor): Mask targets on the RoI grid (binary or soft;
            binarised at 0.5), shape (R, M, M).
        boxes (Tensor): The RoI boxes the grid spans, shape (R, 4).
        area_inside (Tensor): Ground-truth pixels inside each box, (R,).
        area_whole (Tensor): Ground-truth pixels of the whole instance, (R,).
        mask_thr_binary (float): Probability threshold of the predicted
            mask, as at inference (``prob >= thr``). Defaults to 0.5.

    Returns:
        Tensor: IoU targets in [0, 1], shape (R,). A RoI whose union is
        empty gets 0.
    """
    if pred_probs.numel() == 0:
        return pred_probs.new_zeros(pred_probs.shape[0])
    # integer counts (exact, as the sums of 0/1 floats), on uint8: fast
    pred = (pred_probs >= mask_thr_binary).flatten(1).view(torch.uint8)
    target = (mask_targets >= 0.5).flatten(1).view(torch.uint8)
    inter = (pred & target).sum(1, dtype=torch.int32).float()
    pred_area = pred.sum(1, dtype=torch.int32).float()
    grid_cells = float(pred_probs.shape[-1] * pred_probs.shape[-2])
    box_w = (boxes[:, 2] - boxes[:, 0]).clamp(min=1e-2)
    box_h = (boxes[:, 3] - boxes[:, 1]).clamp(min=1e-2)
    outside = (area_whole - area_inside).clamp(min=0)
    gt_area = target.sum(1, dtype=torch.int32).float() + (
        outside * grid_cells / (box_w * box_h))
    union = pred_area + gt_area - inter
    iou = torch.where(union > 0, inter / union.clamp(min=1e-6),
                      torch.zeros_like(union))
    return iou.clamp(0, 1)


def clip_boxes_to_masks(boxes: Tensor, gt_masks) -> Tensor:
    """Clip RoI boxes to the mask canvas, as mmdet's ``mask_target`` does.

    Args:
        boxes (Tensor): Shape (R, 4).
        gt_masks (BitmapMasks | PolygonMasks | Tensor): Masks of the image.

    Returns:
        Tensor: Clipped boxes, shape (R, 4).
    """
    if isinstance(gt_masks, Tensor):
        height, width = gt_masks.shape[-2:]
    else:
        height, width = gt_masks.height, gt_masks.width
    boxes = boxes.detach().clone().float()
    boxes[:, 0::2] = boxes[:, 0::2].clamp(0, width)
    boxes[:, 1::2] = boxes[:, 1::2].clamp(0, height)
    return boxes


def gt_mask_extents(gt_masks) -> Tensor:
    """Box around the foreground of each ground-truth instance.

    Args:
        gt_masks (BitmapMasks | PolygonMasks | Tensor): Instance masks of one
            image (G instances); a tensor is taken as bitmaps (G, H, W).

    Returns:
        Tensor: ``(x1, y1, x2, y2)`` per instance, float32, shape (G, 4), on
        the CPU (or the tensor's device): bitmaps one past the last
        foreground column / row (zeros for an empty mask), polygons the
        extent of their vertices.
    """
    if isinstance(gt_masks, Tensor):
        return masks_to_boxes(gt_masks)
    if isinstance(gt_masks, (BitmapMasks, PolygonMasks)):
        return gt_masks.get_bboxes('hbox').tensor.float()
    raise TypeError(
        'MaskIoU targets need BitmapMasks, PolygonMasks or a (G, H, W) '
        f'tensor as ground-truth masks, got {type(gt_masks).__name__}.')


def boxes_near_extents(boxes: Tensor, extents: Tensor,
                       margin: float = 2.0) -> Tensor:
    """Which (box, instance) pairs can share a foreground pixel.

    A pair whose box lies more than ``margin`` pixels from the instance's
    foreground extent has an empty mask target (the mask target's bilinear
    samples reach less than 1.5 pixels outside a box) and no instance area
    inside the box, so its MaskIoU is exactly 0 and need not be computed.

    Args:
        boxes (Tensor): Shape (D, 4).
        extents (Tensor): From :func:`gt_mask_extents`, shape (G, 4).
        margin (float): Pixels of slack. Defaults to 2.

    Returns:
        Tensor: Bool, shape (D, G).
    """
    boxes = boxes.float()
    extents = extents.to(boxes.device).float()
    return ((boxes[:, None, 0] <= extents[None, :, 2] + margin) &
            (boxes[:, None, 2] >= extents[None, :, 0] - margin) &
            (boxes[:, None, 1] <= extents[None, :, 3] + margin) &
            (boxes[:, None, 3] >= extents[None, :, 1] - margin))


#: Most elements of the (pairs, H, W) copy of the ground-truth bitmaps that
#: mmdet's ``mask_target`` builds in one call: mmcv's CPU ``roi_align``
#: indexes its input with 32-bit integers and crashes (segmentation fault)
#: beyond 2**31 elements.
_MASK_TARGET_CHUNK_ELEMS = 1 << 28


def chunked_mask_target(boxes: Tensor, gt_inds: Tensor, gt_masks,
                        mask_size: Tuple[int, int]) -> Tensor:
    """mmdet's ``mask_target`` of many (box, instance) pairs, in chunks.

    ``mask_target`` copies the image-sized bitmap of every pair's instance
    before ``roi_align``; with thousands of pairs on a large image that
    copy passes 2**31 elements, where mmcv's CPU kernel crashes. The pairs
    are cut into chunks whose copy stays below
    :data:`_MASK_TARGET_CHUNK_ELEMS`; the result is the same.

    Args:
        boxes (Tensor): Pair boxes, shape (R, 4).
        gt_inds (Tensor): Instance index of each pair, shape (R,).
        gt_masks (BitmapMasks | PolygonMasks | Tensor): Masks of the image;
            a (G, H, W) tensor is taken as bitmaps.
        mask_size (tuple[int, int]): Target grid (M, M).

    Returns:
        Tensor: Binary targets, shape (R, M, M).
    """
    if isinstance(gt_masks, Tensor):
        gt_masks = BitmapMasks(
            gt_masks.detach().cpu().numpy().astype('uint8'),
            *gt_masks.shape[-2:])
    cfg = ConfigDict(mask_size=tuple(mask_size))
    pixels = gt_masks.height * gt_masks.width
    step = max(1, _MASK_TARGET_CHUNK_ELEMS // max(pixels, 1))
    if boxes.shape[0] <= step:
        return mask_target([boxes], [gt_inds], [gt_masks], cfg)
    return torch.cat([
        mask_target([boxes[i:i + step]], [gt_inds[i:i + step]], [gt_masks],
                    cfg) for i in range(0, boxes.shape[0], step)
    ])
