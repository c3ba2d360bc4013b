"""Mask scoring on a multi-stage host: Cascade Mask R-CNN (CPU, tiny).

The model is ``configs/demo/cascade-ms-rcnn_r18_fpn_shapes.py`` (slim R-18
FPN, 64 channels, 4 classes) on 64 px inputs, switched to one MaskIoU head
per mask stage.
"""
import copy
import os.path as osp

import pytest
import torch
import torch.nn.functional as F
from mmdet.registry import MODELS as MMDET_MODELS

from helpers import REPO_ROOT, build_model, demo_batch, tiny_model_cfg

CASCADE_DEMO = osp.join(REPO_ROOT,
                        'configs/demo/cascade-ms-rcnn_r18_fpn_shapes.py')
NUM_CLASSES = 4
NUM_STAGES = 3
SIZE = 64


def all_stages_cfg(**roi_head_overrides):
    """The cascade demo with one MaskIoU head per mask stage."""
    cfg = tiny_model_cfg(CASCADE_DEMO)
    head = copy.deepcopy(cfg.roi_head.mask_iou_head)
    cfg.roi_head.update(
        mask_iou_head=[copy.deepcopy(head) for _ in range(NUM_STAGES)],
        mask_iou_stages='all')
    cfg.roi_head.update(roi_head_overrides)
    return cfg


@pytest.fixture(scope='module')
def model():
    return build_model(all_stages_cfg())


def stage_losses(model, seed=0):
    """``s{i}.loss_mask_iou`` of one training step (sampling seeded)."""
    model.train()
    data = demo_batch(model, NUM_CLASSES, size=SIZE)
    torch.manual_seed(seed)  # the same RoI sampling on every call
    losses = model.loss(*data)
    return losses, [losses[f's{i}.loss_mask_iou'] for i in range(NUM_STAGES)]


def test_every_stage_trains_its_own_head(model):
    model.zero_grad()
    losses, per_stage = stage_losses(model)
    assert all(torch.isfinite(v) and v > 0 for v in per_stage)
    assert 'loss_mask_iou' not in losses
    sum(v for v in per_stage).backward()
    heads = model.roi_head.mask_iou_head
    assert isinstance(heads, torch.nn.ModuleList) and len(heads) == 3
    assert len({id(h) for h in heads}) == 3  # not shared
    for i, head in enumerate(heads):
        for name, p in head.named_parameters():
            assert p.grad is not None and p.grad.abs().sum() > 0, (i, name)


def test_mask_iou_loss_keeps_its_own_weight(model):
    """The cascade's stage weights do not scale ``s{i}.loss_mask_iou``.

    The issue asked for the MaskIoU loss under its own key with its own
    weight; before, it rode inside ``loss_mask`` and took the stage weight
    (``mask_iou_loss_weights=[1, 1, 4]`` cancelled it in the configs).
    """
    roi_head = model.roi_head
    cascade_weights = list(roi_head.stage_loss_weights)
    assert cascade_weights == [1, 0.5, 0.25]
    heads = roi_head.mask_iou_head
    try:
        roi_head.stage_loss_weights = [1.0] * NUM_STAGES
        losses_plain, plain = stage_losses(model)
        roi_head.stage_loss_weights = cascade_weights
        losses_cascade, cascade = stage_losses(model)
        # the head's own loss weight is the MaskIoU loss's weight
        heads[1].loss_iou.loss_weight = 3.0
        _, own = stage_losses(model)
    finally:
        roi_head.stage_loss_weights = cascade_weights
        heads[1].loss_iou.loss_weight = 1.0
    for got, want in zip(cascade, plain):
        torch.testing.assert_close(got, want)
    # ... while the mask loss itself still takes the stage weight
    torch.testing.assert_close(losses_cascade['s2.loss_mask'],
                               0.25 * losses_plain['s2.loss_mask'])
    torch.testing.assert_close(own[1], 3 * plain[1])
    torch.testing.assert_close(own[0], plain[0])


def test_removed_loss_weights_option_is_refused():
    with pytest.raises(ValueError, match='loss_weights. was removed'):
        build_roi_head(mask_iou_loss_weights=[1.0, 1.0, 4.0])


def test_scored_stage_with_zero_stage_weight_is_refused():
    with pytest.raises(ValueError, match=r'stage_loss_weights\[0\] is 0'):
        build_roi_head(stage_loss_weights=[0.0, 0.5, 0.25])


def test_default_scores_last_stage_only():
    model = build_model(tiny_model_cfg(CASCADE_DEMO))
    model.train()
    losses = model.loss(*demo_batch(model, NUM_CLASSES, size=SIZE))
    assert torch.isfinite(losses['s2.loss_mask_iou'])
    assert 's0.loss_mask_iou' not in losses
    assert 's1.loss_mask_iou' not in losses


def test_test_time_scores_the_merged_mask(model):
    """The last head sees the mean of the stages' mask probabilities."""
    roi_head = model.roi_head
    stage_logits, seen = [], {}
    handles = [
        head.register_forward_hook(
            lambda mod, args, out: stage_logits.append(out))
        for head in roi_head.mask_head
    ]
    handles.append(roi_head.mask_head[-1].register_forward_pre_hook(
        lambda mod, args: seen.__setitem__('mask_feats', args[0])))
    last_iou_head = roi_head.mask_iou_head[-1]
    handles.append(last_iou_head.convs[0].register_forward_pre_hook(
        lambda mod, args: seen.__setitem__('iou_input', args[0])))
    handles.append(
        last_iou_head.register_forward_hook(
            lambda mod, args, out: seen.__setitem__('iou_preds', out)))
    for i in range(NUM_STAGES - 1):  # the other stages' heads stay idle
        handles.append(roi_head.mask_iou_head[i].register_forward_hook(
            lambda *a: pytest.fail('only the last MaskIoU head scores')))
    model.eval()
    model.test_cfg.rcnn.score_thr = 0.0
    data = demo_batch(
        model, NUM_CLASSES, batch_size=2, size=SIZE, training=False)
    try:
        with torch.no_grad():
            results = model.predict(*data)
    finally:
        for h in handles:
            h.remove()
        model.test_cfg.rcnn.score_thr = 0.05
    assert len(stage_logits) == NUM_STAGES
    labels = torch.cat([r.pred_instances.labels for r in results])
    rows = torch.arange(len(labels))
    merged = torch.stack([lg.sigmoid() for lg in stage_logits]).mean(0)
    merged = merged[rows, labels]  # (N, 28, 28)
    pooled = F.max_pool2d(merged[:, None], kernel_size=2)  # to 14 x 14
    iou_input = seen['iou_input']
    assert iou_input.shape[-2:] == (14, 14)
    torch.testing.assert_close(iou_input[:, -1:], pooled)
    torch.testing.assert_close(iou_input[:, :-1], seen['mask_feats'])
    # no single stage's mask is what was scored
    for lg in stage_logits:
        single = F.max_pool2d(lg.sigmoid()[rows, labels][:, None], 2)
        assert not torch.allclose(single, pooled)
    ious = seen['iou_preds'][rows, labels].clamp(0, 1)
    torch.testing.assert_close(
        torch.cat([r.pred_instances.mask_ious for r in results]), ious)


def build_roi_head(**roi_head_overrides):
    """Only the RoI head of the all-stages cascade (cheap to build)."""
    cfg = all_stages_cfg(**roi_head_overrides)
    roi_head = copy.deepcopy(cfg.roi_head)
    roi_head.update(train_cfg=cfg.train_cfg.rcnn, test_cfg=cfg.test_cfg.rcnn)
    return MMDET_MODELS.build(roi_head)


def test_roi_head_builds_alone():
    roi_head = build_roi_head()
    assert roi_head.scored_stages == [0, 1, 2]


@pytest.mark.parametrize('stages', [[0, 1], [0], [-2]])
def test_stages_without_the_last_are_refused(stages):
    with pytest.raises(ValueError, match='leaves the last mask stage'):
        build_roi_head(mask_iou_stages=stages)


@pytest.mark.parametrize('stages', [[3], ['2'], 'first'])
def test_unknown_stages_are_refused(stages):
    with pytest.raises(ValueError, match='stage indices below 3'):
        build_roi_head(mask_iou_stages=stages)


def test_per_stage_heads_of_wrong_length_are_refused():
    head = all_stages_cfg().roi_head.mask_iou_head[0]
    with pytest.raises(
            ValueError, match='mask_iou_head has 2 entries.*3 '
            'mask stages'):
        build_roi_head(mask_iou_head=[head, head])


def test_scored_stage_without_head_config_is_refused():
    head = all_stages_cfg().roi_head.mask_iou_head[0]
    with pytest.raises(ValueError, match=r'mask_iou_head\[1\] is None'):
        build_roi_head(mask_iou_head=[head, None, head])
    # an unscored stage may have none
    roi_head = build_roi_head(
        mask_iou_head=[None, None, head], mask_iou_stages='last')
    assert roi_head.scored_stages == [2]


def test_one_head_shared_by_every_stage():
    """One ``mask_iou_head`` dict with ``mask_iou_stages='all'``."""
    cfg = tiny_model_cfg(CASCADE_DEMO)
    cfg.roi_head.update(mask_iou_stages='all')
    model = build_model(cfg)
    head = model.roi_head.mask_iou_head
    assert not isinstance(head, torch.nn.ModuleList)
    calls = []
    handle = head.register_forward_hook(
        lambda mod, args, out: calls.append(out.shape[0]))
    try:
        model.zero_grad()
        losses, per_stage = stage_losses(model)
    finally:
        handle.remove()
    # the same module ran once per stage, each stage has its own loss
    assert len(calls) == NUM_STAGES
    assert all(torch.isfinite(v) and v > 0 for v in per_stage)
    per_stage[0].backward(retain_graph=True)
    grad_first = {n: p.grad.clone() for n, p in head.named_parameters()}
    sum(per_stage[1:]).backward()
    for name, p in head.named_parameters():
        # the later stages added to the gradient of the one shared head
        assert not torch.equal(p.grad, grad_first[name]), name
