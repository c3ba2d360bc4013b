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
