"""Degenerate inputs never crash or give NaN (bullet 3).

Target level: hand-computed MaskIoU targets on a 16 x 16 image (and one of
800 x 1333) with a 4 x 4 RoI grid. Model level: the slim demo model on
hand-built batches, spying on the targets the MaskIoU head computes.
"""
import copy
from contextlib import contextmanager

import numpy as np
import pytest
import torch
from mmdet.structures import DetDataSample
from mmdet.structures.mask import BitmapMasks, PolygonMasks
from mmengine.structures import InstanceData

from helpers import build_model, tiny_model_cfg

from mmdet_msrcnn.models import MaskIoUHead
from mmdet_msrcnn.models.utils import gt_areas_in_and_out

# one intra-op thread, as every test that runs a training (tests/conftest.py)
pytestmark = pytest.mark.usefixtures('one_thread')

H = W = 16
M = 4
NUM_CLASSES = 4


def bitmaps(*regions, h=H, w=W):
    """BitmapMasks with one instance per ``(y0, y1, x0, x1)`` region."""
    masks = np.zeros((len(regions), h, w), np.uint8)
    for i, region in enumerate(regions):
        if region is not None:
            y0, y1, x0, x1 = region
            masks[i, y0:y1, x0:x1] = 1
    return BitmapMasks(masks, h, w)


def polygons(*regions, h=H, w=W):
    """PolygonMasks of the same rectangles (``None``: a 2-point part)."""
    parts = []
    for region in regions:
        if region is None:
            parts.append([np.array([1., 1., 2., 2.])])
        else:
            y0, y1, x0, x1 = region
            parts.append(
                [np.array([x0, y0, x1, y0, x1, y1, x0, y1], dtype=np.float64)])
    return PolygonMasks(parts, h, w)


def iou_head():
    return MaskIoUHead(
        num_classes=2,
        roi_feat_size=2,
        mask_size=M,
        in_channels=4,
        conv_out_channels=4,
        fc_out_channels=8)


def targets(masks, boxes, gt_inds, probs, mask_targets):
    res = InstanceData()
    res.pos_priors = torch.as_tensor(boxes, dtype=torch.float32).reshape(-1, 4)
    res.pos_assigned_gt_inds = torch.as_tensor(gt_inds, dtype=torch.long)
    gt = InstanceData()
    gt.masks = masks
    return iou_head().get_targets(probs, mask_targets, [res], [gt], 0.5)


def grid(*cells, fill=1.0):
    """(M, M) tensor with ``fill`` at the given (row, col) cells."""
    out = torch.zeros(M, M)
    for r, c in cells:
        out[r, c] = fill
    return out


ALL = [(r, c) for r in range(M) for c in range(M)]
ABOVE = torch.full((M, M), 0.9)
BELOW = torch.full((M, M), 0.1)
AT_THR = torch.full((M, M), 0.5)  # >= thr counts as foreground

# ----------------------------------------------------------------------
# target level, hand values
# one-pixel instance: pixel (y=3, x=5), i.e. [5, 6] x [3, 4]
PIXEL = (3, 4, 5, 6)
# rectangle touching the bottom-right border: x, y in [12, 16)
CORNER = (12, 16, 12, 16)
# rectangle x in [4, 12), y in [0, 8), touching the top border: 64 pixels
RECT = (0, 8, 4, 12)

CASES = {
    # name: (region, box, probs, mask target, expected IoU)
    'empty gt, pred above': (None, [0, 0, 4, 4], ABOVE, grid(), 0.0),
    'empty gt, pred below': (None, [0, 0, 4, 4], BELOW, grid(), 0.0),
    'pixel, exact box, above': (PIXEL, [5, 3, 6, 4], ABOVE, grid(*ALL), 1.),
    'pixel, exact box, below': (PIXEL, [5, 3, 6, 4], BELOW, grid(*ALL), 0.),
    'pixel, 4px box, above': (PIXEL, [4, 2, 8, 6], ABOVE, grid(
        (1, 1)), 1 / 16),
    'pixel, 4px box, hit': (PIXEL, [4, 2, 8, 6], grid(
        (1, 1), fill=.7), grid((1, 1)), 1.0),
    # pixel outside the box: 1 px = 1 grid cell of union, no intersection
    'pixel outside, above': (PIXEL, [8, 8, 12, 12], ABOVE, grid(), 0.0),
    'pixel outside, below': (PIXEL, [8, 8, 12, 12], BELOW, grid(), 0.0),
    # the box leaves the image and is clipped to [12, 16]^2
    'border, clipped box, above': (CORNER, [12, 12, 20,
                                            20], ABOVE, grid(*ALL), 1.0),
    'border, clipped box, at thr':
    (CORNER, [10, 10, 24, 24], AT_THR,
     grid(*[(r, c) for r in (2, 3) for c in (2, 3)]), 0.25),
    'rect, exact box, above': (RECT, [4, 0, 12, 8], ABOVE, grid(*ALL), 1.),
    'rect, exact box, below': (RECT, [4, 0, 12, 8], BELOW, grid(*ALL), 0.),
    # half the instance in the box: 8 cells in + 32 px = 8 cells outside
    'rect, half box, above':
    (RECT, [0, 0, 8, 8], ABOVE,
     grid(*[(r, c) for r in range(M) for c in (2, 3)]), 8 / 24),
    'rect, box above image, above': (RECT, [4, -8, 12, 0], ABOVE, grid(), 0.0),
}


@pytest.mark.parametrize('name, kind', [
    (name, kind) for name in sorted(CASES)
    for kind in ('bitmap', 'polygon', 'tensor')
    if not (kind == 'polygon' and CASES[name][0] is None)
])  # an empty polygon is covered by test_short_polygons
def test_targets_by_hand(name, kind):
    region, box, probs, mask_target, expected = CASES[name]
    if kind == 'bitmap':
        masks = bitmaps(region)
    elif kind == 'polygon':
        masks = polygons(region)
    else:
        masks = torch.from_numpy(bitmaps(region).masks).bool()
    iou = targets(masks, [box], [0], probs[None], mask_target[None])
    assert iou.shape == (1, ) and torch.isfinite(iou).all()
    assert iou.item() == pytest.approx(expected, abs=1e-5)


@pytest.mark.parametrize(
    'parts, area',
    [
        ([np.array([5., 3., 6., 4.])], 0.0),  # 2 points
        ([np.array([5., 3.])], 0.0),  # 1 point
        ([np.array([5., 3., 6., 4., 7.])], 0.0),  # odd number of coordinates
        ([
            np.array([4., 0., 12., 0., 12., 8., 4., 8.]),
            np.array([1., 1., 2., 2.])
        ], 64.0),  # a valid part and a short one
    ])
def test_short_polygons(parts, area):
    masks = PolygonMasks([parts], H, W)
    inside, whole = gt_areas_in_and_out(masks, torch.tensor([0]),
                                        torch.tensor([[0., 0., 16., 16.]]))
    assert inside.item() == pytest.approx(area)
    assert whole.item() == pytest.approx(area)
    for probs in (ABOVE, BELOW):
        iou = targets(masks, [[0, 0, 16, 16]], [0], probs[None], grid()[None])
        assert torch.isfinite(iou).all() and iou.item() == 0.0


def test_no_positive_rois():
    iou = targets(
        bitmaps(RECT), [], [], torch.zeros(0, M, M), torch.zeros(0, M, M))
    assert iou.shape == (0, )
    head = iou_head()
    preds = head(torch.rand(0, 4, 2, 2), torch.rand(0, M, M))
    loss = head.loss(preds, iou, torch.zeros(0, dtype=torch.long))
    assert loss['loss_mask_iou'].item() == 0
    loss['loss_mask_iou'].backward()
    assert all(p.grad is not None for p in head.parameters())


def test_image_without_gt_targets():
    for masks in (bitmaps(), PolygonMasks([], H, W)):
        inside, whole = gt_areas_in_and_out(masks,
                                            torch.zeros(0, dtype=torch.long),
                                            torch.zeros(0, 4))
        assert inside.shape == whole.shape == (0, )


@pytest.mark.parametrize('kind', ['bitmap', 'polygon'])
def test_large_image_targets(kind):
    """800 x 1333: the whole image and the bottom-right pixel."""
    h, w = 800, 1333
    regions = [(0, h, 0, w), (h - 1, h, w - 1, w)]
    masks = bitmaps(
        *regions, h=h, w=w) if kind == 'bitmap' else polygons(
            *regions, h=h, w=w)
    boxes = [[0, 0, w, h], [w - 1, h - 1, w, h], [-50, -50, w + 50, h + 50],
             [0, 0, w / 2, h]]
    mask_targets = torch.stack([grid(*ALL)] * 3 + [grid(*ALL)])
    iou = targets(masks, boxes, [0, 1, 0, 0], torch.stack([ABOVE] * 4),
                  mask_targets)
    # the last box holds half of the image: the other half is outside
    assert iou.tolist() == pytest.approx([1.0, 1.0, 1.0, 0.5], abs=1e-5)


# ----------------------------------------------------------------------
# model level
@contextmanager
def spy_targets(model):
    """Collect what ``MaskIoUHead.get_targets`` returns."""
    head = model.roi_head.mask_iou_head
    seen = []
    original = head.get_targets

    def get_targets(*args, **kwargs):
        out = original(*args, **kwargs)
        seen.append(out.detach().clone())
        return out

    head.get_targets = get_targets
    try:
        yield seen
    finally:
        del head.get_targets


def data_sample(h, w, boxes, masks, labels=None):
    sample = DetDataSample(
        metainfo=dict(
            img_shape=(h, w), ori_shape=(h, w), scale_factor=(1.0, 1.0)))
    gt = InstanceData()
    gt.bboxes = torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4)
    gt.labels = torch.tensor(
        labels if labels is not None else
        [i % NUM_CLASSES for i in range(len(boxes))],
        dtype=torch.long)
    gt.masks = masks
    sample.gt_instances = gt
    return sample


def batch(model, samples, training=True, seed=0):
    gen = torch.Generator().manual_seed(seed)
    inputs = [
        torch.randint(
            0,
            256, (3, ) + s.metainfo['img_shape'],
            generator=gen,
            dtype=torch.uint8) for s in samples
    ]
    data = model.data_preprocessor(
        dict(inputs=inputs, data_samples=samples), training)
    return data['inputs'], data['data_samples']


def check_train_step(model, inputs, samples):
    model.train()
    model.zero_grad()
    with spy_targets(model) as seen:
        losses = model.loss(inputs, samples)
    total = 0
    for key, value in losses.items():
        value = value if isinstance(value, torch.Tensor) else sum(value)
        assert torch.isfinite(value).all(), key
        if 'loss' in key:
            total = total + value.sum()
    total.backward()
    for name, p in model.named_parameters():
        if p.grad is not None:
            assert torch.isfinite(p.grad).all(), name
    assert seen, 'the MaskIoU head computed no targets'
    found = torch.cat(seen)
    assert ((found >= 0) & (found <= 1)).all()
    return losses, found


@pytest.fixture(scope='module')
def model():
    return build_model(tiny_model_cfg())


def degenerate_samples(kind):
    """Two 64 px images: one without GT, one with degenerate instances."""
    regions = [None, (10, 11, 20, 21), (0, 12, 0, 12), (40, 64, 50, 64)]
    boxes = [[30, 30, 40, 40], [20, 10, 21, 11], [0, 0, 12, 12],
             [50, 40, 64, 64]]
    if kind == 'bitmap':
        masks = bitmaps(*regions, h=64, w=64)
    else:  # polygons as LoadAnnotations leaves them: no part < 3 points
        masks = polygons(*regions, h=64, w=64)
        masks.masks[0] = [np.zeros(6)]  # a fully invalid instance
    empty = data_sample(
        64, 64, [],
        bitmaps(h=64, w=64) if kind == 'bitmap' else PolygonMasks([], 64, 64))
    return [empty, data_sample(64, 64, boxes, masks)]


@pytest.mark.parametrize('kind', ['bitmap', 'polygon'])
def test_train_step_on_degenerate_gt(model, kind):
    """Empty, one-pixel and border-touching GT; an image without GT."""
    check_train_step(model, *batch(model, degenerate_samples(kind)))


def test_train_step_without_gt_at_all(model):
    samples = [data_sample(64, 64, [], bitmaps(h=64, w=64)) for _ in 'ab']
    losses, found = check_train_step(model, *batch(model, samples))
    assert found.numel() == 0 and losses['loss_mask_iou'].item() == 0


def test_train_step_without_positive_rois():
    cfg = tiny_model_cfg()
    cfg.train_cfg.rcnn.assigner.update(pos_iou_thr=1.01, min_pos_iou=1.01)
    cfg.train_cfg.rcnn.sampler.add_gt_as_proposals = False
    model = build_model(cfg)
    losses, found = check_train_step(
        model, *batch(model, degenerate_samples('bitmap')))
    assert found.numel() == 0 and losses['loss_mask_iou'].item() == 0


@pytest.mark.parametrize('bias, expect', [(-20.0, 'zero'), (20.0, 'some')])
def test_predicted_masks_all_below_or_above(model, bias, expect):
    model = copy.deepcopy(model)
    logits = model.roi_head.mask_head.conv_logits
    with torch.no_grad():
        logits.weight.zero_()
        logits.bias.fill_(bias)
    _, found = check_train_step(model,
                                *batch(model, degenerate_samples('bitmap')))
    if expect == 'zero':  # nothing predicted: IoU 0 everywhere
        assert (found == 0).all()
    else:  # everything predicted: the IoU is the GT share of the RoI
        assert (found > 0).any() and (found < 1).any()


def test_polygons_through_load_annotations(model):
    """Short polygon parts as they reach the model from a json file."""
    from mmdet.datasets.transforms import LoadAnnotations, PackDetInputs
    results = dict(
        img=np.zeros((64, 64, 3), np.uint8),
        img_shape=(64, 64),
        ori_shape=(64, 64),
        scale_factor=(1.0, 1.0),
        instances=[
            dict(
                bbox=[4, 4, 20, 20],
                bbox_label=0,
                ignore_flag=0,
                mask=[[4., 4., 20., 4., 20., 20., 4., 20.],
                      [30., 30., 31., 31.]]),  # valid + 2-point part
            dict(
                bbox=[30, 30, 40, 40],
                bbox_label=1,
                ignore_flag=0,
                mask=[[30., 30., 40., 40.]]),  # 2 points only
            dict(
                bbox=[40, 40, 50, 50],
                bbox_label=2,
                ignore_flag=0,
                mask=[[40., 40.]]),  # 1 point
        ])
    results = LoadAnnotations(with_mask=True, poly2mask=False)(results)
    packed = PackDetInputs()(results)
    sample = packed['data_samples']
    assert isinstance(sample.gt_instances.masks, PolygonMasks)
    assert len(sample.gt_instances) == 1  # the others became ignored
    data = model.data_preprocessor(
        dict(inputs=[packed['inputs']], data_samples=[sample]), True)
    check_train_step(model, data['inputs'], data['data_samples'])


def test_zero_detections_and_zero_proposals(model):
    model.eval()
    inputs, samples = batch(
        model, degenerate_samples('bitmap'), training=False)
    old_thr = model.test_cfg.rcnn.score_thr
    model.test_cfg.rcnn.score_thr = 1.1  # nothing survives
    try:
        with torch.no_grad():
            results = model.predict(inputs, copy.deepcopy(samples))
    finally:
        model.test_cfg.rcnn.score_thr = old_thr
    for res in results:
        inst = res.pred_instances
        assert len(inst) == 0 and inst.mask_ious.shape == (0, )
        assert inst.mask_scores.shape == (0, )
    # the RPN proposes nothing at all
    with torch.no_grad():
        feats = model.extract_feat(inputs)
        empty = []
        for _ in samples:
            proposals = InstanceData()
            proposals.bboxes = torch.zeros(0, 4)
            proposals.scores = torch.zeros(0)
            proposals.labels = torch.zeros(0, dtype=torch.long)
            empty.append(proposals)
        results = model.roi_head.predict(feats, empty, samples, rescale=True)
    for inst in results:
        assert len(inst) == 0 and inst.mask_ious.shape == (0, )


def tiny_channel_cfg():
    """The demo model at 16 feature channels (8 in the first stage)."""
    cfg = tiny_model_cfg()
    ch = 16
    cfg.backbone.base_channels = 8
    cfg.neck.update(in_channels=[8, 16, 32, 64], out_channels=ch)
    cfg.rpn_head.update(in_channels=ch, feat_channels=ch)
    roi = cfg.roi_head
    roi.bbox_roi_extractor.out_channels = ch
    roi.mask_roi_extractor.out_channels = ch
    roi.bbox_head.update(in_channels=ch, fc_out_channels=32)
    roi.mask_head.update(in_channels=ch, conv_out_channels=ch)
    roi.mask_iou_head.update(
        in_channels=ch, conv_out_channels=ch, fc_out_channels=32)
    # few RoIs
    cfg.train_cfg.rpn_proposal.update(nms_pre=200, max_per_img=32)
    cfg.train_cfg.rcnn.sampler.num = 32
    cfg.test_cfg.rpn.update(nms_pre=100, max_per_img=20)
    cfg.test_cfg.rcnn.max_per_img = 10
    return cfg


def test_large_image_few_rois():
    h, w = 800, 1333
    model = build_model(tiny_channel_cfg())
    regions = [(0, 400, 0, 300), (h - 1, h, w - 1, w), (300, 800, 1000, 1333)]
    boxes = [[0, 0, 300, 400], [w - 1, h - 1, w, h], [1000, 300, 1333, 800]]
    sample = data_sample(h, w, boxes, bitmaps(*regions, h=h, w=w))
    check_train_step(model, *batch(model, [sample]))
    model.eval()
    model.test_cfg.rcnn.score_thr = 0.0
    inputs, samples = batch(model, [copy.deepcopy(sample)], training=False)
    with torch.no_grad():
        inst = model.predict(inputs, samples)[0].pred_instances
    assert 0 < len(inst) <= 10
    assert inst.masks.shape[1:] == (h, w)
    assert torch.isfinite(inst.mask_ious).all()
    assert ((inst.mask_ious >= 0) & (inst.mask_ious <= 1)).all()
