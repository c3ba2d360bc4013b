"""Jittered ground-truth boxes as extra MaskIoU training RoIs (ranking work).

Hand-computed boxes of :func:`jitter_boxes`, the bounds of its draws, and
the training path: its loss reaches the MaskIoU head only; and, for it and
the detections option alike, the host's losses left as they are, a zero
finite loss without any extra RoI, and the host checks.
"""
import os.path as osp

import pytest
import torch

from helpers import REPO_ROOT, build_model, demo_batch, tiny_model_cfg
from mmdet_msrcnn.models.utils import jitter_boxes

NUM_CLASSES = 4


def test_zero_offset_gives_exact_copies_in_order():
    boxes = torch.tensor([[2., 3., 12., 9.], [20., 20., 30., 40.]])
    out = jitter_boxes(boxes, 3, 0.0, (50, 60))
    assert out.shape == (6, 4)
    torch.testing.assert_close(out[:3], boxes[:1].expand(3, 4))
    torch.testing.assert_close(out[3:], boxes[1:].expand(3, 4))


def test_boxes_are_clipped_by_hand():
    boxes = torch.tensor([
        [-10., -10., 5., 5.],  # sticks out top-left: [0, 0, 5, 5]
        [30., 30., 40., 40.],  # wholly outside a 20 x 20 image
        [5., 5., 5., 5.],  # empty: one pixel wide and high, same centre
    ])
    out = jitter_boxes(boxes, 1, 0.0, (20, 20))
    torch.testing.assert_close(
        out,
        torch.tensor([[0., 0., 5., 5.], [19., 19., 20., 20.],
                      [4.5, 4.5, 5.5, 5.5]]))


def test_draws_stay_within_the_offset():
    """Far from the edges: |shift| <= r * size, |log scale| <= r."""
    box = torch.tensor([[400., 300., 500., 350.]])  # 100 x 50
    r = 0.25
    out = jitter_boxes(box, 2000, r, (1000, 1000),
                       generator=torch.Generator().manual_seed(0))
    size = out[:, 2:] - out[:, :2]
    shift = (out[:, :2] + out[:, 2:]) / 2 - box.new_tensor([450., 325.])
    log_scale = torch.log(size / box.new_tensor([100., 50.]))
    assert (shift.abs() <= r * box.new_tensor([100., 50.]) + 1e-3).all()
    assert (log_scale.abs() <= r + 1e-5).all()
    # the draws cover the range (uniform): extremes near +-r
    assert log_scale.max() > 0.9 * r and log_scale.min() < -0.9 * r
    assert shift[:, 0].abs().max() > 0.9 * r * 100
    # the same generator seed draws the same boxes
    again = jitter_boxes(box, 2000, r, (1000, 1000),
                         generator=torch.Generator().manual_seed(0))
    assert torch.equal(out, again)


def jitter_model(rank=False, **option):
    cfg = tiny_model_cfg(mask_iou_jittered_gts=dict(option))
    if rank:
        cfg.roi_head.mask_iou_head.rank_loss = dict()
    return build_model(cfg)


@pytest.mark.parametrize('rank', [False, True])
def test_trains_the_head_only(rank):
    model = jitter_model(rank=rank, num_per_gt=3, loss_weight=0.5)
    model.train()
    model.zero_grad()
    inputs, samples = demo_batch(model, NUM_CLASSES, batch_size=2, size=64)
    losses = model.loss(inputs, samples)
    keys = {'loss_mask_iou_jit'} | ({'loss_mask_iou_jit_rank'}
                                    if rank else set())
    assert keys <= set(losses)
    loss = losses['loss_mask_iou_jit']
    assert torch.isfinite(loss) and loss > 0
    loss.backward()
    for name, p in model.roi_head.mask_iou_head.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    for name, p in model.roi_head.mask_head.named_parameters():
        assert p.grad is None, name
    assert all(p.grad is None for p in model.backbone.parameters())


def test_targets_come_from_the_jittered_boxes(monkeypatch):
    """3 instances x 2 images x num_per_gt boxes, labelled as their
    instance: what reaches the target code."""
    model = jitter_model(num_per_gt=5)
    model.train()
    head = model.roi_head.mask_iou_head
    seen = []
    original = head.detection_targets

    def spy(probs, boxes, labels, gts, *args, **kwargs):
        seen.append((boxes, labels, gts))
        return original(probs, boxes, labels, gts, *args, **kwargs)

    monkeypatch.setattr(head, 'detection_targets', spy)
    inputs, samples = demo_batch(model, NUM_CLASSES, batch_size=2, size=64)
    model.loss(inputs, samples)
    (boxes, labels, gts), = seen
    for img_boxes, img_labels, gt in zip(boxes, labels, gts):
        assert img_boxes.shape == (5 * len(gt), 4)
        assert torch.equal(img_labels, gt.labels.repeat_interleave(5))
        assert (img_boxes[:, 2:] > img_boxes[:, :2]).all()
        assert (img_boxes >= 0).all() and (img_boxes <= 64).all()


@pytest.mark.parametrize('option', ['dets', 'jit'])
def test_host_losses_unchanged_by_the_option(option):
    """Same weights, same seed: the paper's losses are unchanged by
    training on detections (made before the sampling, deterministically)
    or on jittered boxes (drawn after the host's losses)."""
    plain = build_model(tiny_model_cfg())
    if option == 'dets':
        cfg = tiny_model_cfg(mask_iou_detections=dict(loss_weight=0.5))
        cfg.test_cfg.rcnn.score_thr = 0.0
        extra = build_model(cfg)
    else:
        extra = jitter_model()
    extra.load_state_dict(plain.state_dict())
    out = []
    for model in (plain, extra):
        model.train()
        data = demo_batch(model, NUM_CLASSES, size=64)
        torch.manual_seed(0)
        out.append(model.loss(*data))
    assert f'loss_mask_iou_{option}' in out[1]
    for key in ('loss_mask_iou', 'loss_mask', 'loss_cls', 'loss_bbox'):
        torch.testing.assert_close(out[0][key], out[1][key])


@pytest.mark.parametrize('option', ['dets', 'jit'])
def test_zero_extra_rois_give_zero_loss_and_finite_grads(option):
    """No detection survives (dets), or the image has no instance (jit)."""
    if option == 'dets':
        cfg = tiny_model_cfg(mask_iou_detections=dict(loss_weight=0.5))
        cfg.test_cfg.rcnn.score_thr = 1.01  # nothing survives
        model = build_model(cfg)
    else:
        model = jitter_model()
    model.train()
    model.zero_grad()
    inputs, samples = demo_batch(model, NUM_CLASSES, size=64)
    if option == 'jit':
        samples[0].gt_instances = samples[0].gt_instances[:0]
    loss = model.loss(inputs, samples)[f'loss_mask_iou_{option}']
    assert loss.item() == 0
    loss.backward()
    for name, p in model.roi_head.mask_iou_head.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name


def test_option_is_checked():
    with pytest.raises(ValueError, match="unknown keys \\['num'\\]"):
        jitter_model(num=2)
    with pytest.raises(ValueError, match='num_per_gt=0'):
        jitter_model(num_per_gt=0)
    with pytest.raises(ValueError, match='max_offset=1.0'):
        jitter_model(max_offset=1)
    assert jitter_model().roi_head.mask_iou_jittered_gts == dict(
        num_per_gt=4, max_offset=0.25, loss_weight=1.0)


@pytest.mark.parametrize('option', [
    dict(mask_iou_jittered_gts=dict()),
    dict(mask_iou_detections=dict()),
])
def test_extra_roi_options_need_a_host_and_a_learned_head(option):
    cascade = osp.join(REPO_ROOT,
                       'configs/demo/cascade-ms-rcnn_r18_fpn_shapes.py')
    name = next(iter(option))
    with pytest.raises(ValueError,
                       match=f'{name} is supported by MaskScoringRoIHead'):
        build_model(tiny_model_cfg(cascade, **option))
    with pytest.raises(ValueError,
                       match=f'{name} needs a learned MaskIoU head'):
        build_model(
            tiny_model_cfg(
                mask_score_source='maskness', mask_iou_head=None, **option))
