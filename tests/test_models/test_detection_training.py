"""Training the MaskIoU head beyond the positives (issue: ranking work).

Hand-computed targets for detections (wrong class, background, duplicate
of a hit), the bin-balanced loss by hand, and the training path on the
model's own detections (with no detection at all, and the host's losses
left as they are: test_jittered_gts.py, shared with the jittered boxes).
"""
import pytest
import torch
from mmdet.structures.mask import BitmapMasks
from mmengine.structures import InstanceData

from helpers import build_model, demo_batch, tiny_model_cfg
from mmdet_msrcnn.models import MaskIoUHead

NUM_CLASSES = 4


def two_squares():
    """20 x 20 image: class 0 at [0, 10)^2, class 1 at [10, 20)^2."""
    masks = torch.zeros(2, 20, 20, dtype=torch.uint8)
    masks[0, :10, :10] = 1
    masks[1, 10:, 10:] = 1
    return InstanceData(
        masks=BitmapMasks(masks.numpy(), 20, 20),
        labels=torch.tensor([0, 1]))


def test_detection_targets_by_hand():
    head = MaskIoUHead(num_classes=3, roi_feat_size=2, in_channels=4)
    boxes = torch.tensor([
        [0., 0., 10., 10.],  # exactly the class-0 square: 1
        [0., 0., 10., 10.],  # a duplicate of that hit: 1 too
        [0., 0., 10., 10.],  # labelled class 1 (wrong class): 0
        [10., 0., 20., 10.],  # class 0 on background: 0
        [0., 0., 10., 20.],  # class 0, twice the square: 100 / 200
        [0., 0., 10., 10.],  # class 2, none in the image: 0
    ])
    labels = torch.tensor([0, 0, 1, 0, 0, 2])
    probs = torch.ones(6, 4, 4)  # every mask fills its box
    targets = head.detection_targets(probs, [boxes], [labels],
                                     [two_squares()])
    torch.testing.assert_close(
        targets, torch.tensor([1.0, 1.0, 0.0, 0.0, 0.5, 0.0]))


def test_detection_targets_take_the_best_same_class_instance():
    """Two class-0 instances: the one the mask overlaps most counts."""
    gt = two_squares()
    gt.labels = torch.tensor([0, 0])
    boxes = torch.tensor([[5., 5., 20., 20.]])  # 225 px box
    targets = MaskIoUHead(
        num_classes=3, roi_feat_size=2, in_channels=4).detection_targets(
            torch.ones(1, 15, 15), [boxes], [torch.tensor([0])], [gt])
    # square 0: 25 / 300; square 1: 100 / 225
    torch.testing.assert_close(targets, torch.tensor([100 / 225]))


def test_bin_balanced_loss_by_hand():
    head = MaskIoUHead(
        num_classes=3, roi_feat_size=2, in_channels=4, balance_bins=10)
    preds = torch.zeros(3)
    targets = torch.tensor([0.05, 0.06, 0.9])
    # bins 0, 0, 9 -> weights 1/2, 1/2, 1; sum of weights 2
    want = (0.5 * 0.05**2 + 0.5 * 0.06**2 + 0.9**2) / 2
    assert head.regression_loss(preds, targets).item() == pytest.approx(want)
    plain = MaskIoUHead(num_classes=3, roi_feat_size=2, in_channels=4)
    assert plain.regression_loss(preds, targets).item() == pytest.approx(
        (0.05**2 + 0.06**2 + 0.9**2) / 3)
    with pytest.raises(ValueError, match='balance_bins'):
        MaskIoUHead(balance_bins=0)


def detections_model(**overrides):
    cfg = tiny_model_cfg(mask_iou_detections=dict(loss_weight=0.5))
    cfg.test_cfg.rcnn.update(overrides)
    return build_model(cfg)


def test_trains_on_its_own_detections():
    model = detections_model(score_thr=0.0)
    model.train()
    model.zero_grad()
    torch.manual_seed(0)
    losses = model.loss(*demo_batch(model, NUM_CLASSES, size=64))
    assert torch.isfinite(losses['loss_mask_iou_dets'])
    assert losses['loss_mask_iou_dets'] > 0
    losses['loss_mask_iou_dets'].backward()
    for name, p in model.roi_head.mask_iou_head.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    # no gradient into the detector from this loss
    for name, p in model.roi_head.mask_head.named_parameters():
        assert p.grad is None, name
    assert all(p.grad is None for p in model.backbone.parameters())


# the host's losses unchanged by the option, and no detection in the batch:
# tests/test_models/test_jittered_gts.py (shared with the jittered boxes)


def test_option_is_checked():
    with pytest.raises(ValueError, match="unknown keys \\['weight'\\]"):
        build_model(tiny_model_cfg(mask_iou_detections=dict(weight=1)))
    with pytest.raises(ValueError, match='max_per_img=0'):
        build_model(tiny_model_cfg(mask_iou_detections=dict(max_per_img=0)))


@pytest.mark.parametrize('cap, want', [(None, 5), (2, 2)])
def test_detections_per_image_capped(monkeypatch, cap, want):
    """``max_per_img`` keeps that many detections per image for training.

    test_cfg keeps 5 per image (score_thr 0: every image has at least 5);
    the option lowers it, inference keeps test_cfg's.
    """
    cfg = tiny_model_cfg(
        mask_iou_detections=dict(loss_weight=1.0, max_per_img=cap))
    cfg.test_cfg.rcnn.update(score_thr=0.0, max_per_img=5)
    model = build_model(cfg)
    model.train()
    head = model.roi_head.mask_iou_head
    seen = []
    original = head.detection_targets

    def spy(probs, boxes, labels, *args, **kwargs):
        seen.extend(len(b) for b in boxes)
        return original(probs, boxes, labels, *args, **kwargs)

    monkeypatch.setattr(head, 'detection_targets', spy)
    inputs, samples = demo_batch(model, NUM_CLASSES, batch_size=2, size=64)
    model.loss(inputs, samples)
    assert seen == [want] * len(samples)
    assert model.roi_head.test_cfg.max_per_img == 5


def _detector_grads(model_cfg, mask_rcnn_state=None):
    """Gradients of every parameter outside the MaskIoU head, one step."""
    model = build_model(model_cfg)
    if mask_rcnn_state is not None:  # the same detector weights
        model.load_state_dict(mask_rcnn_state, strict=False)
    model.train()
    inputs, samples = demo_batch(model, NUM_CLASSES, batch_size=2, size=64)
    torch.manual_seed(0)
    loss, _ = model.parse_losses(model.loss(inputs, samples))
    loss.backward()
    grads = {
        name: p.grad.clone()
        for name, p in model.named_parameters()
        if 'mask_iou_head' not in name and p.grad is not None
    }
    head = [p.grad for n, p in model.named_parameters()
            if 'mask_iou_head' in n]
    return model, grads, head


@pytest.mark.parametrize('balance_bins', [None, 10])
def test_detached_mask_iou_feats_leave_the_detector_as_mask_rcnn(
        balance_bins):
    """detach_mask_iou_feats: the detector's gradients are Mask R-CNN's
    (with or without detections and bin balancing); without it the
    balanced positives' loss reaches the backbone."""
    from helpers import DEMO_MASK
    mask_rcnn, base, _ = _detector_grads(tiny_model_cfg(DEMO_MASK))
    state = mask_rcnn.state_dict()
    head_cfg = dict(balance_bins=balance_bins) if balance_bins else {}
    cfg = tiny_model_cfg(mask_iou_detections=dict(loss_weight=1.0),
                         detach_mask_iou_feats=True)
    cfg.roi_head.mask_iou_head.update(head_cfg)
    _, grads, head = _detector_grads(cfg, state)
    assert set(grads) == set(base)
    for name, g in base.items():
        assert torch.equal(grads[name], g), name
    assert any(g is not None and g.abs().sum() > 0 for g in head)
    # attached (the paper's joint training): the backbone gets the
    # MaskIoU loss of the positives, so its gradient differs
    cfg = tiny_model_cfg(mask_iou_detections=dict(loss_weight=1.0))
    cfg.roi_head.mask_iou_head.update(head_cfg)
    _, grads, _ = _detector_grads(cfg, state)
    assert not torch.equal(grads['backbone.conv1.weight'],
                           base['backbone.conv1.weight'])


def crowded_image(num_gts=40, size=64, seed=0):
    """Many small blobs of 2 classes, as in a nuclei crop."""
    gen = torch.Generator().manual_seed(seed)
    masks = torch.zeros(num_gts, size, size, dtype=torch.uint8)
    for i in range(num_gts):
        x, y = torch.randint(0, size - 6, (2, ), generator=gen).tolist()
        w, h = torch.randint(2, 7, (2, ), generator=gen).tolist()
        masks[i, y:y + h, x:x + w] = 1
    labels = torch.randint(0, 2, (num_gts, ), generator=gen)
    return InstanceData(
        masks=BitmapMasks(masks.numpy(), size, size), labels=labels), gen


def unfiltered_detection_targets(probs, boxes, labels, gt):
    """Every same-class (detection, instance) pair, no pruning, one call."""
    from mmdet.structures.mask import mask_target
    from mmengine.config import ConfigDict

    from mmdet_msrcnn.models.utils.mask_iou_target import (
        clip_boxes_to_masks, gt_areas_in_and_out, mask_iou_from_areas)
    rows, gt_inds = (labels[:, None] == gt.labels[None, :]).nonzero(
        as_tuple=True)
    grid = mask_target([boxes[rows]], [gt_inds], [gt.masks],
                       ConfigDict(mask_size=tuple(probs.shape[-2:])))
    clipped = clip_boxes_to_masks(boxes[rows], gt.masks)
    area_in, area_all = gt_areas_in_and_out(gt.masks, gt_inds, clipped)
    ious = mask_iou_from_areas(probs[rows], grid, clipped, area_in, area_all)
    return torch.zeros(len(boxes)).scatter_reduce(
        0, rows, ious, reduce='amax')


def test_detection_targets_skip_only_pairs_that_cannot_overlap():
    """Pruning far-apart pairs leaves every target as the full computation.

    A crowded image (40 instances, 60 detections of jittered sizes around
    them and on background): the pruned targets equal those of every
    same-class pair, and several are far from 0 (the test is not vacuous).
    """
    gt, gen = crowded_image()
    extents = gt.masks.get_bboxes('hbox').tensor
    picked = torch.randint(0, 40, (50, ), generator=gen)
    # corners move outwards up to 2 px, inwards up to 0.5 px
    jitter = torch.rand(50, 4, generator=gen) * 2.5 - torch.tensor(
        [2., 2., 0.5, 0.5])
    boxes = torch.cat([
        (extents[picked] + jitter).clamp(0, 64),
        torch.rand(10, 2, generator=gen).repeat(1, 2) * 56 +
        torch.tensor([0., 0., 6., 6.])
    ])
    labels = torch.cat([gt.labels[picked], torch.randint(0, 2, (10, ))])
    probs = torch.rand(60, 7, 7, generator=gen)
    head = MaskIoUHead(num_classes=2, roi_feat_size=2, in_channels=4)
    targets = head.detection_targets(probs, [boxes], [labels], [gt])
    want = unfiltered_detection_targets(probs, boxes, labels, gt)
    torch.testing.assert_close(targets, want)
    assert (want > 0.2).sum() >= 10


def test_boxes_near_extents_by_hand():
    from mmdet_msrcnn.models.utils.mask_iou_target import boxes_near_extents
    extents = torch.tensor([[10., 10., 20., 20.]])
    boxes = torch.tensor([
        [21., 12., 30., 18.],  # 1 px right of the instance: kept
        [23., 12., 30., 18.],  # 3 px right: pruned
        [0., 0., 7., 7.],  # 3 px above-left: pruned
        [0., 0., 9., 9.],  # 1 px diagonally: kept
        [12., 12., 14., 14.],  # inside: kept
    ])
    assert boxes_near_extents(boxes, extents)[:, 0].tolist() == [
        True, False, False, True, True
    ]


def test_chunked_mask_target_equals_one_call(monkeypatch):
    """Chunks of 3 pairs give mmdet's one-call mask targets exactly."""
    from mmdet.structures.mask import mask_target
    from mmengine.config import ConfigDict

    from mmdet_msrcnn.models.utils import mask_iou_target
    gt, gen = crowded_image(num_gts=8)
    boxes = torch.rand(10, 2, generator=gen).repeat(1, 2) * 48 + torch.tensor(
        [0., 0., 16., 16.])
    inds = torch.randint(0, 8, (10, ), generator=gen)
    want = mask_target([boxes], [inds], [gt.masks],
                       ConfigDict(mask_size=(7, 7)))
    monkeypatch.setattr(mask_iou_target, '_MASK_TARGET_CHUNK_ELEMS',
                        3 * 64 * 64)
    got = mask_iou_target.chunked_mask_target(boxes, inds, gt.masks, (7, 7))
    torch.testing.assert_close(got, want)
    assert want.sum() > 0
