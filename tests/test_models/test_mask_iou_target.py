"""MaskIoU targets against hand-computed values."""
import numpy as np
import pytest
import torch
from mmdet.structures.mask import BitmapMasks, PolygonMasks
from mmengine.structures import InstanceData

from mmdet_msrcnn.models import MaskIoUHead
from mmdet_msrcnn.models.utils import (gt_areas_in_and_out,
                                       mask_iou_from_areas)

H = W = 16
# ground truth: the rectangle x in [4, 12), y in [0, 8): 64 pixels
RECT_POLY = [np.array([4., 0., 12., 0., 12., 8., 4., 8.])]


def rect_bitmap():
    m = np.zeros((1, H, W), dtype=np.uint8)
    m[0, 0:8, 4:12] = 1
    return BitmapMasks(m, H, W)


def rect_polygon(clockwise=False):
    poly = RECT_POLY[0].copy()
    if clockwise:
        poly = poly.reshape(-1, 2)[::-1].reshape(-1)
    return PolygonMasks([[poly]], H, W)


@pytest.mark.parametrize('make_masks', [
    rect_bitmap, rect_polygon, lambda: rect_polygon(clockwise=True)
])
def test_areas_in_fractional_boxes(make_masks):
    boxes = torch.tensor([[0., 0., 8., 8.], [5.5, 2.25, 20., 6.5],
                          [12., 0., 16., 16.], [0., 0., 16., 16.]])
    inside, whole = gt_areas_in_and_out(make_masks(),
                                        torch.zeros(4, dtype=torch.long),
                                        boxes)
    # [4,8)x[0,8) = 32; [5.5,12)x[2.25,6.5) = 6.5*4.25; none; all
    expected = torch.tensor([32., 6.5 * 4.25, 0., 64.])
    assert torch.allclose(inside, expected, atol=1e-4)
    assert torch.allclose(whole, torch.full((4, ), 64.))


def test_polygon_triangle_and_degenerate_parts():
    tri = np.array([0., 0., 10., 0., 0., 10.])
    two_points = np.array([1., 1., 3., 3.])  # fewer than 3 points: no area
    masks = PolygonMasks([[tri, two_points]], 20, 20)
    boxes = torch.tensor([[0., 0., 5., 5.], [5., 0., 10., 5.],
                          [2.5, 2.5, 7.5, 7.5]])
    inside, whole = gt_areas_in_and_out(masks, torch.zeros(
        3, dtype=torch.long), boxes)
    # box 1 lies inside x + y <= 10; box 2: int_5^10 (10 - x) dx = 12.5;
    # box 3: 25 minus the corner triangle above x + y = 10 (area 12.5)
    assert torch.allclose(inside, torch.tensor([25., 12.5, 12.5]), atol=1e-4)
    assert torch.allclose(whole, torch.full((3, ), 50.))


def test_iou_counts_gt_outside_roi_and_binarises_probability():
    # RoI [0, 0, 8, 8] on a 4 x 4 grid: a cell is 2 x 2 pixels.
    # GT inside the RoI: grid columns 2, 3 (8 cells); 32 px outside = 8 cells
    target = torch.zeros(1, 4, 4)
    target[0, :, 2:] = 1
    probs = torch.full((1, 4, 4), 0.51)
    probs[0, :, 0] = 0.49  # just below: not part of the predicted mask
    box = torch.tensor([[0., 0., 8., 8.]])
    iou = mask_iou_from_areas(probs, target, box, torch.tensor([32.]),
                              torch.tensor([64.]), 0.5)
    # pred 12 cells, inter 8, gt 16: 8 / (12 + 16 - 8)
    assert iou.item() == pytest.approx(0.4)
    # a pixel-space check of the same case: pred x in [2, 8), y in [0, 8)
    pred_px = np.zeros((H, W), bool)
    pred_px[0:8, 2:8] = True
    gt_px = rect_bitmap().masks[0].astype(bool)
    assert (pred_px & gt_px).sum() / (pred_px | gt_px).sum() == 0.4
    # binarising the logits at 0.5 (the defect) would give an empty mask
    logits = torch.logit(probs)
    assert not (logits > 0.5).any()


@pytest.mark.parametrize('make_masks', [rect_bitmap, rect_polygon])
def test_head_targets_bitmap_and_polygon(make_masks):
    head = MaskIoUHead(num_classes=2, roi_feat_size=2, mask_size=4,
                       in_channels=4, conv_out_channels=4, fc_out_channels=8)
    res = InstanceData()
    res.pos_priors = torch.tensor([[0., 0., 8., 8.], [4., 0., 12., 8.]])
    res.pos_assigned_gt_inds = torch.tensor([0, 0])
    gt = InstanceData()
    gt.masks = make_masks()
    target = torch.zeros(2, 4, 4)
    target[0, :, 2:] = 1
    target[1] = 1
    probs = torch.full((2, 4, 4), 0.51)
    probs[0, :, 0] = 0.49
    probs[1, :2] = 0.2  # half of the (exact) box predicted
    iou = head.get_targets(probs, target, [res], [gt], 0.5)
    assert torch.allclose(iou, torch.tensor([0.4, 0.5]), atol=1e-6)


def test_empty_cases_are_finite():
    iou = mask_iou_from_areas(
        torch.zeros(2, 4, 4), torch.zeros(2, 4, 4),
        torch.tensor([[0., 0., 4., 4.], [0., 0., 0., 0.]]),
        torch.zeros(2), torch.zeros(2))
    assert torch.equal(iou, torch.zeros(2))
    empty = gt_areas_in_and_out(
        BitmapMasks(np.zeros((0, 8, 8), np.uint8), 8, 8),
        torch.zeros(0, dtype=torch.long), torch.zeros(0, 4))
    assert empty[0].shape == (0, )
    assert mask_iou_from_areas(torch.zeros(0, 4, 4), torch.zeros(0, 4, 4),
                               torch.zeros(0, 4), torch.zeros(0),
                               torch.zeros(0)).shape == (0, )


def test_bad_mask_type_names_the_fix():
    with pytest.raises(TypeError, match='with_mask=True'):
        gt_areas_in_and_out([1, 2], torch.zeros(1, dtype=torch.long),
                            torch.zeros(1, 4))


def test_batch_of_images_with_other_sizes_and_kinds():
    """Bitmaps of two sizes, a polygon image and one without RoIs, at once.

    The bitmaps' tables are packed together; each image must still read its
    own table, at its own size.
    """
    from mmdet_msrcnn.models.utils.mask_iou_target import \
        batch_gt_areas_in_and_out
    # image 0: the 16 x 16 rectangle (64 px); image 2: 24 x 20 with two
    # instances, a 3 x 5 block at x [1, 4), y [2, 7) and a 10 x 2 bar at
    # x [10, 20), y [20, 22)
    big = np.zeros((2, 24, 20), dtype=np.uint8)
    big[0, 2:7, 1:4] = 1
    big[1, 20:22, 10:20] = 1
    tri = np.array([0., 0., 10., 0., 0., 10.])
    masks = [
        rect_bitmap(),
        PolygonMasks([[tri]], 20, 20),
        BitmapMasks(np.zeros((1, 8, 8), np.uint8), 8, 8),
        BitmapMasks(big, 24, 20)
    ]
    inds = [
        torch.tensor([0, 0]),
        torch.tensor([0]),
        torch.zeros(0, dtype=torch.long),
        torch.tensor([1, 0, 1])
    ]
    boxes = [
        torch.tensor([[0., 0., 8., 8.], [5.5, 2.25, 20., 6.5]]),
        torch.tensor([[5., 0., 10., 5.]]),
        torch.zeros(0, 4),
        torch.tensor([[15., 20.5, 20., 24.], [0., 0., 2.5, 24.],
                      [0., 0., 20., 24.]])
    ]
    inside, whole = batch_gt_areas_in_and_out(masks, inds, boxes)
    assert [t.shape for t in inside] == [(2, ), (1, ), (0, ), (3, )]
    expected_in = [[32., 6.5 * 4.25], [12.5], [], [5 * 1.5, 1.5 * 5, 20.]]
    expected_all = [[64., 64.], [50.], [], [20., 15., 20.]]
    for got, want in zip(inside, expected_in):
        assert torch.allclose(got, torch.tensor(want), atol=1e-4)
    for got, want in zip(whole, expected_all):
        assert torch.allclose(got, torch.tensor(want), atol=1e-4)
    # and each image alone gives the same numbers
    for m, i, b, got in zip(masks, inds, boxes, inside):
        alone, _ = gt_areas_in_and_out(m, i, b)
        assert torch.equal(alone, got)


@pytest.mark.parametrize('layout', ['uint8 255', 'bool', 'strided float'])
def test_tensor_masks_of_other_values_and_layouts(layout):
    """uint8 foreground of 255, bool, and a non-contiguous float tensor."""
    rect = torch.zeros(1, H, W)
    rect[0, 0:8, 4:12] = 1
    if layout == 'uint8 255':
        masks = (rect * 255).to(torch.uint8)
    elif layout == 'bool':
        masks = rect.bool()
    else:  # every other column of a twice as wide tensor
        wide = torch.zeros(1, H, 2 * W)
        wide[..., ::2] = rect * 0.7
        masks = wide[..., ::2]
        assert not masks.is_contiguous()
    boxes = torch.tensor([[0., 0., 8., 8.], [5.5, 2.25, 20., 6.5]])
    inside, whole = gt_areas_in_and_out(masks, torch.zeros(
        2, dtype=torch.long), boxes)
    assert torch.allclose(inside, torch.tensor([32., 6.5 * 4.25]), atol=1e-4)
    assert torch.allclose(whole, torch.full((2, ), 64.))


# ----------------------------------------------------------------------
# polygons reaching outside the image: the whole instance is its in-image
# part, as the evaluator (and the rasterised mask target) sees it
def iou_head_targets(masks, priors, probs, mask_size=4):
    """MaskIoU targets of one image, its mask targets as mmdet's.

    Returns the targets and the ``mask_target`` grids of the (clipped) RoIs.
    """
    from mmdet.structures.mask import mask_target
    from mmengine.config import ConfigDict

    from mmdet_msrcnn.models.utils import clip_boxes_to_masks
    head = MaskIoUHead(num_classes=2, roi_feat_size=2, mask_size=mask_size,
                       in_channels=4, conv_out_channels=4, fc_out_channels=8)
    res = InstanceData()
    res.pos_priors = torch.tensor(priors)
    res.pos_assigned_gt_inds = torch.zeros(len(priors), dtype=torch.long)
    gt = InstanceData()
    gt.masks = masks
    grids = mask_target([clip_boxes_to_masks(res.pos_priors, masks)],
                        [res.pos_assigned_gt_inds], [masks],
                        ConfigDict(mask_size=(mask_size, mask_size)))
    return head.get_targets(probs, grids, [res], [gt], 0.5), grids


@pytest.mark.parametrize('clockwise', [False, True])
def test_polygon_cut_by_the_right_border(clockwise):
    # image 20 x 20, square x in [10, 30], y in [0, 10]: 200 px in the
    # plane, 100 px (x in [10, 20]) in the image
    square = np.array([10., 0., 30., 0., 30., 10., 10., 10.])
    if clockwise:
        square = square.reshape(-1, 2)[::-1].reshape(-1)
    masks = PolygonMasks([[square]], 20, 20)
    assert masks.areas[0] == 200.  # the unclipped area (the old whole)
    assert masks.to_ndarray().sum() == 100  # what COCO evaluation sees
    boxes = torch.tensor([[10., 0., 20., 10.], [0., 0., 20., 20.],
                          [10., 0., 30., 10.], [15., 0., 30., 20.]])
    inside, whole = gt_areas_in_and_out(masks, torch.zeros(
        4, dtype=torch.long), boxes)
    # in-image half; whole image; the unclipped square box counts only its
    # in-image part (never more than the whole); x in [15, 20]: 5 * 10
    assert torch.allclose(inside, torch.tensor([100., 100., 100., 50.]),
                          atol=1e-4)
    assert torch.allclose(whole, torch.full((4, ), 100.), atol=1e-4)
    # RoI 0: the square's prior [10, 30] x [0, 10], clipped to [10, 20]:
    # the grid is all target, the prediction covers it: 16 / 16 = 1 (the
    # old 200 px whole gave 16 / (16 + 100 px * 16 / 100 px) = 0.5)
    # RoI 1: the whole image, 5 x 5 px cells; the in-image half is the
    # 2 x 2 cells of rows 0-1, columns 2-3, predicted exactly: 4 / 4 = 1
    # (old: 4 / (4 + 100 * 16 / 400) = 0.5)
    probs = torch.full((2, 4, 4), 0.9)
    probs[1] = 0.1
    probs[1, :2, 2:] = 0.9
    iou, grids = iou_head_targets(masks, [[10., 0., 30., 10.],
                                          [0., 0., 20., 20.]], probs)
    assert torch.equal(grids[0], torch.ones(4, 4))
    assert torch.equal(grids[1], (probs[1] > 0.5).float())
    assert torch.allclose(iou, torch.ones(2), atol=1e-6)


def test_polygon_with_a_vertex_far_outside():
    # image 20 x 20, thin triangle (0, 5), (1e6, 10), (0, 15): 5e6 px in the
    # plane; its height at x is 10 - 1e-5 x, so in the image (x in [0, 20])
    # int_0^20 (10 - 1e-5 x) dx = 200 - 1e-5 * 200 = 199.998 px
    # and in the RoI x in [0, 10]: 100 - 1e-5 * 50 = 99.9995 px
    tri = np.array([0., 5., 1e6, 10., 0., 15.])
    masks = PolygonMasks([[tri]], 20, 20)
    assert masks.areas[0] == 5e6
    boxes = torch.tensor([[0., 0., 10., 20.], [0., 0., 20., 20.],
                          [0., 0., 1e6, 20.]])
    inside, whole = gt_areas_in_and_out(masks, torch.zeros(
        3, dtype=torch.long), boxes)
    assert torch.allclose(inside,
                          torch.tensor([99.9995, 199.998, 199.998],
                                       dtype=torch.float64).float(),
                          atol=1e-4)
    assert torch.allclose(whole, torch.full((3, ), 199.998), atol=1e-4)
    # RoI [0, 10] x [0, 20] on a 4 x 4 grid (2.5 x 5 px cells): the target
    # is rows 1-2 (y in [5, 15)), predicted exactly: 8 cells, and outside
    # 199.998 - 99.9995 = 99.9985 px = 99.9985 * 16 / 200 = 7.99988 cells:
    # 8 / (8 + 8 + 7.99988 - 8) = 0.50000375 (old: 8 / (8 + 0.08 *
    # (5e6 - 99.9995)) = 2e-5)
    probs = torch.full((1, 4, 4), 0.1)
    probs[0, 1:3] = 0.9
    iou, grids = iou_head_targets(masks, [[0., 0., 10., 20.]], probs)
    assert torch.equal(grids[0], (probs[0] > 0.5).float())
    assert torch.isfinite(iou).all()
    assert iou.item() == pytest.approx(8 / (8 + 0.08 * 99.9985), abs=1e-6)


def test_polygon_inside_the_image_is_unchanged():
    # entirely inside (the rectangle of the tests above, and one touching
    # the border x = W = 16 and with fractional vertices): the whole area
    # is the shoelace area, bit for bit
    from mmdet_msrcnn.models.utils import pack_polygon_edges
    touching = np.array([4.3, 0., 16., 0., 16., 8.7, 4.3, 8.7])
    masks = PolygonMasks([RECT_POLY, [touching]], H, W)
    boxes = torch.tensor([[0., 0., 8., 8.], [0., 0., 16., 16.],
                          [8., 0., 16., 4.]])
    inds = torch.tensor([0, 0, 1])
    inside, whole = gt_areas_in_and_out(masks, inds, boxes)
    _, plane = pack_polygon_edges(masks, 'cpu')
    assert torch.equal(whole, plane[inds])
    # 64 px (as in test_areas_in_fractional_boxes); 11.7 * 8.7
    assert whole.tolist() == pytest.approx([64., 64., 11.7 * 8.7])
    assert torch.allclose(inside, torch.tensor([32., 64., 8. * 4.]),
                          atol=1e-4)
    # the targets of test_head_targets_bitmap_and_polygon
    probs = torch.full((2, 4, 4), 0.51)
    probs[0, :, 0] = 0.49
    probs[1, :2] = 0.2
    iou, _ = iou_head_targets(rect_polygon(),
                              [[0., 0., 8., 8.], [4., 0., 12., 8.]], probs)
    assert torch.allclose(iou, torch.tensor([0.4, 0.5]), atol=1e-6)


# parts are summed, each clipped: x in [10, 30] x [0, 10] (100 px in a
# 20 x 20 image) plus x in [0, 5] x [12, 17] (25 px): 125 (plane: 225)
TWO_PARTS = [
    np.array([10., 0., 30., 0., 30., 10., 10., 10.]),
    np.array([0., 12., 5., 12., 5., 17., 0., 17.])
]
# bowtie (0, 0), (20, 10), (20, 0), (0, 10) in a 15-wide image: lobes of
# 50 px and opposite winding either side of x = 10 (shoelace area 0); in
# the image, the net (winding) area, as the shoelace counts it:
# 50 - int_10^15 (x - 10) dx = 50 - 12.5 = 37.5
BOWTIE = [np.array([0., 0., 20., 10., 20., 0., 0., 10.])]


@pytest.mark.parametrize(
    'masks, boxes, want_in, want_all',
    [
        (PolygonMasks([TWO_PARTS], 20, 20),
         [[0., 0., 20., 20.], [0., 10., 20., 20.]], [125., 25.], 125.),
        # the left lobe's 50 px in its box are capped at the whole 37.5;
        # the right lobe's box has a negative net area: 0
        (PolygonMasks([BOWTIE], 20, 15),
         [[0., 0., 10., 20.], [10., 0., 15., 20.]], [37.5, 0.], 37.5),
    ])
def test_multi_part_and_self_intersecting_polygons_cut_by_the_border(
        masks, boxes, want_in, want_all):
    inside, whole = gt_areas_in_and_out(masks, torch.zeros(
        2, dtype=torch.long), torch.tensor(boxes))
    assert torch.allclose(inside, torch.tensor(want_in), atol=1e-4)
    assert torch.allclose(whole, torch.full((2, ), want_all), atol=1e-4)
    assert (inside <= whole).all()
