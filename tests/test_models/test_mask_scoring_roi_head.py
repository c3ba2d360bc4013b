"""MaskScoringRoIHead end to end on the slim demo model (CPU)."""
import copy

import pytest
import torch

from helpers import (DEMO_MASK, build_model, demo_batch, tiny_model_cfg)

NUM_CLASSES = 4


@pytest.fixture(scope='module')
def ms_model():
    return build_model(tiny_model_cfg())


def total_loss(losses):
    return sum(v.sum() if isinstance(v, torch.Tensor) else sum(v)
               for k, v in losses.items() if 'loss' in k)


def test_train_step_has_finite_mask_iou_loss(ms_model):
    ms_model.train()
    ms_model.zero_grad()
    losses = ms_model.loss(*demo_batch(ms_model, NUM_CLASSES, batch_size=2))
    assert 'loss_mask_iou' in losses
    assert torch.isfinite(losses['loss_mask_iou'])
    total_loss(losses).backward()
    for name, p in ms_model.roi_head.mask_iou_head.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize('num_items', [[0], [0, 2]])
def test_images_without_ground_truth(ms_model, num_items):
    ms_model.train()
    ms_model.zero_grad()
    data = demo_batch(ms_model, NUM_CLASSES, batch_size=len(num_items),
                      num_items=num_items)
    losses = ms_model.loss(*data)
    for key, value in losses.items():
        value = value if isinstance(value, torch.Tensor) else sum(value)
        assert torch.isfinite(value).all(), key
    total_loss(losses).backward()
    for name, p in ms_model.roi_head.mask_iou_head.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name


def test_batch_without_positive_rois():
    cfg = tiny_model_cfg()
    cfg.train_cfg.rcnn.assigner.update(pos_iou_thr=1.01, min_pos_iou=1.01)
    cfg.train_cfg.rcnn.sampler.add_gt_as_proposals = False
    model = build_model(cfg)
    model.train()
    losses = model.loss(*demo_batch(model, NUM_CLASSES))
    assert losses['loss_mask_iou'].item() == 0
    total_loss(losses).backward()
    for name, p in model.roi_head.mask_iou_head.named_parameters():
        assert p.grad is not None, name


def test_predict_fields_and_box_scores_unchanged(ms_model):
    ms_model.eval()
    data = demo_batch(ms_model, NUM_CLASSES, batch_size=2, training=False)
    ms_model.test_cfg.rcnn.score_thr = 0.0  # full work for the heads
    with torch.no_grad():
        results = ms_model.predict(*copy.deepcopy(data))
    # the same weights without the MaskIoU head: plain Mask R-CNN
    plain = build_model(tiny_model_cfg(DEMO_MASK))
    missing, unexpected = plain.load_state_dict(
        ms_model.state_dict(), strict=False)
    assert not missing
    assert all(k.startswith('roi_head.mask_iou_head') for k in unexpected)
    plain.eval()
    plain.test_cfg.rcnn.score_thr = 0.0
    with torch.no_grad():
        plain_results = plain.predict(*copy.deepcopy(data))
    assert len(results) == 2
    for res, ref in zip(results, plain_results):
        inst = res.pred_instances
        assert len(inst) == 100  # top 100 after Soft-NMS
        assert inst.mask_ious.shape == inst.scores.shape
        assert ((inst.mask_ious >= 0) & (inst.mask_ious <= 1)).all()
        assert torch.allclose(inst.mask_scores, inst.scores * inst.mask_ious)
        assert ((inst.mask_scores >= 0) & (inst.mask_scores <= 1)).all()
        assert torch.equal(inst.scores, ref.pred_instances.scores)
        assert torch.equal(inst.masks, ref.pred_instances.masks)
        assert inst.masks.shape[1:] == res.ori_shape


def test_zero_detections_give_empty_typed_results(ms_model):
    ms_model.eval()
    data = demo_batch(ms_model, NUM_CLASSES, batch_size=2, training=False)
    ms_model.test_cfg.rcnn.score_thr = 1.1
    try:
        with torch.no_grad():
            results = ms_model.predict(*data)
    finally:
        ms_model.test_cfg.rcnn.score_thr = 0.05
    for res in results:
        inst = res.pred_instances
        assert len(inst) == 0
        assert inst.mask_ious.shape == (0, )
        assert inst.mask_scores.dtype == inst.scores.dtype
        assert inst.masks.shape[0] == 0


def test_num_classes_mismatch_is_a_clear_error():
    cfg = tiny_model_cfg()
    cfg.roi_head.mask_iou_head.num_classes = 80
    with pytest.raises(ValueError, match='bbox_head.num_classes=4'):
        build_model(cfg)


def test_mmdet_classes_stay_mmdets():
    import mmdet.models.roi_heads as mmdet_roi_heads
    from mmdet.registry import MODELS as MMDET_MODELS

    from mmdet_msrcnn import models as ours
    from mmdet_msrcnn.registry import MODELS
    assert MMDET_MODELS.get('MaskScoringRoIHead') is \
        mmdet_roi_heads.MaskScoringRoIHead
    assert MMDET_MODELS.get('MaskIoUHead').__module__.startswith('mmdet.')
    assert MODELS.get('mmdet_msrcnn.MaskIoUHead') is ours.MaskIoUHead
    assert MODELS.get('MaskScoringRoIHead') is ours.MaskScoringRoIHead
    # both build side by side in one process
    theirs = MMDET_MODELS.build(dict(type='MaskIoUHead', num_classes=3))
    mine = MMDET_MODELS.build(
        dict(type='mmdet_msrcnn.MaskIoUHead', num_classes=3))
    assert type(theirs) is not type(mine)


def test_maskness_by_hand():
    """Mean probability over the foreground (p >= 0.5), 0 when empty."""
    from mmdet_msrcnn.models import mask_maskness
    probs = torch.tensor([
        [[0.9, 0.6], [0.2, 0.5]],  # fg 0.9, 0.6, 0.5: mean 2.0 / 3
        [[0.1, 0.2], [0.3, 0.4]],  # no foreground
        [[1.0, 1.0], [1.0, 1.0]],
    ])
    torch.testing.assert_close(
        mask_maskness(probs, 0.5), torch.tensor([2.0 / 3, 0.0, 1.0]))
    # a higher threshold keeps 0.9 only
    torch.testing.assert_close(
        mask_maskness(probs[:1], 0.7), torch.tensor([0.9]))


def test_results_carry_maskness(ms_model):
    ms_model.eval()
    ms_model.test_cfg.rcnn.score_thr = 0.0
    data = demo_batch(ms_model, NUM_CLASSES, size=64, training=False)
    with torch.no_grad():
        inst = ms_model.predict(*data)[0].pred_instances
    assert inst.maskness.shape == inst.scores.shape
    fg = inst.maskness > 0
    assert ((inst.maskness[fg] >= 0.5) & (inst.maskness[fg] <= 1)).all()


def test_scoring_with_no_learned_head():
    """``mask_score_source='maskness'``: no head, no loss, scores x maskness."""
    cfg = tiny_model_cfg(mask_iou_head=None, mask_score_source='maskness')
    model = build_model(cfg)
    assert model.roi_head.mask_iou_head is None
    model.train()
    losses = model.loss(*demo_batch(model, NUM_CLASSES, size=64))
    assert not any('mask_iou' in k for k in losses)
    model.eval()
    model.test_cfg.rcnn.score_thr = 0.0
    data = demo_batch(model, NUM_CLASSES, size=64, training=False)
    with torch.no_grad():
        inst = model.predict(*data)[0].pred_instances
        (roi_outs, ) = model(*data, mode='tensor')
    assert len(inst) > 0
    torch.testing.assert_close(inst.mask_ious, inst.maskness)
    torch.testing.assert_close(inst.mask_scores, inst.scores * inst.maskness)
    assert len(roi_outs) == 3  # no MaskIoU head: the host's outputs only
    with pytest.raises(ValueError, match="set mask_iou_head=None"):
        build_model(tiny_model_cfg(mask_score_source='maskness'))
    with pytest.raises(ValueError, match='mask_score_source='):
        build_model(tiny_model_cfg(mask_score_source='maskiness'))
