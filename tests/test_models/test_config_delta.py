"""Mask scoring for an existing mmdet detector is a few config lines.

A config that inherits mmdet's own detector config, imports the package and
names our RoI head plus a MaskIoU head builds, trains and predicts with
``loss_mask_iou`` and ``mask_scores``; everything else stays mmdet's.
"""
import os.path as osp
import textwrap

import pytest
import torch
from mmengine.config import Config

from helpers import build_model, demo_batch, strip_pretrained

NUM_CLASSES = 80
SIZE = 64

DELTAS = {
    'cascade': ('mmdet::cascade_rcnn/cascade-mask-rcnn_r50_fpn_1x_coco.py',
                'CascadeMaskScoringRoIHead', 's2.'),
    'mask_rcnn': ('mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py',
                  'MaskScoringRoIHead', ''),
}


def write_delta(tmp_path, base, roi_head_type):
    """The whole user-side change, as a config file."""
    text = textwrap.dedent(f"""\
        # {base} plus mask scoring
        _base_ = '{base}'
        custom_imports = dict(
            imports=['mmdet_msrcnn'], allow_failed_imports=False)

        model = dict(
            roi_head=dict(
                type='mmdet_msrcnn.{roi_head_type}',
                mask_iou_head=dict(
                    type='mmdet_msrcnn.MaskIoUHead', num_classes=80)))
        """)
    path = tmp_path / 'delta.py'
    path.write_text(text)
    return str(path), text


def load_base(tmp_path, base):
    path = tmp_path / 'base.py'
    path.write_text(f"_base_ = '{base}'\n")
    return Config.fromfile(str(path))


def make_fast(model_cfg):
    """ResNet-18 and fewer proposals, for speed (not part of the delta)."""
    model_cfg.backbone.depth = 18
    model_cfg.neck.in_channels = [64, 128, 256, 512]
    model_cfg.train_cfg.rpn_proposal.update(nms_pre=200, max_per_img=100)
    model_cfg.test_cfg.rpn.update(nms_pre=200, max_per_img=50)


@pytest.mark.parametrize('name', sorted(DELTAS))
def test_delta_is_small_and_changes_only_the_scoring(tmp_path, name):
    base, roi_head_type, _ = DELTAS[name]
    path, text = write_delta(tmp_path, base, roi_head_type)
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) <= 12, len(lines)
    ours = Config.fromfile(path).model
    theirs = load_base(tmp_path, base).model
    assert ours.roi_head.pop('type') == f'mmdet_msrcnn.{roi_head_type}'
    assert ours.roi_head.pop('mask_iou_head').type == \
        'mmdet_msrcnn.MaskIoUHead'
    theirs.roi_head.pop('type')
    assert ours.to_dict() == theirs.to_dict()


def test_delta_trains_and_predicts(tmp_path):
    """Cascade Mask R-CNN (the Mask R-CNN delta is configs/ms_rcnn's)."""
    from mmdet_msrcnn import models as ours
    base, roi_head_type, prefix = DELTAS['cascade']
    path, _ = write_delta(tmp_path, base, roi_head_type)
    cfg = Config.fromfile(path)
    assert osp.basename(cfg.filename) == 'delta.py'
    model_cfg = cfg.model
    strip_pretrained(model_cfg)
    make_fast(model_cfg)
    model = build_model(model_cfg)
    assert isinstance(model.roi_head, getattr(ours, roi_head_type))

    model.train()
    losses = model.loss(*demo_batch(model, NUM_CLASSES, size=SIZE))
    key = f'{prefix}loss_mask_iou'
    assert key in losses and torch.isfinite(losses[key]), sorted(losses)
    total = sum(v.sum() if isinstance(v, torch.Tensor) else sum(v)
                for k, v in losses.items() if 'loss' in k)
    total.backward()
    for p_name, p in model.roi_head.mask_iou_head.named_parameters():
        assert p.grad is not None, p_name

    model.eval()
    model.test_cfg.rcnn.score_thr = 0.0
    with torch.no_grad():
        results = model.predict(
            *demo_batch(model, NUM_CLASSES, size=SIZE, training=False))
    inst = results[0].pred_instances
    assert len(inst) > 0
    assert inst.masks.shape[1:] == (SIZE, SIZE)
    assert ((inst.mask_ious >= 0) & (inst.mask_ious <= 1)).all()
    torch.testing.assert_close(inst.mask_scores, inst.scores * inst.mask_ious)
