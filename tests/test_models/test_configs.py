"""Every config under configs/ builds, trains one step and predicts.

Parametrised over the folder, so a new config is covered automatically.
Pretrained weights are switched off; inputs are a tiny random batch.
"""
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from helpers import (REPO_ROOT, build_model, demo_batch, slim_queryinst,
                     steady_boxes, strip_pretrained)

CONFIGS = sorted(
    osp.relpath(p, REPO_ROOT)
    for p in glob.glob(osp.join(REPO_ROOT, 'configs', '**', '*.py'),
                       recursive=True)
    if '_base_' not in p)


def _num_classes(model_cfg):
    bbox_head = model_cfg.roi_head.bbox_head
    if isinstance(bbox_head, (list, tuple)):
        bbox_head = bbox_head[-1]
    return bbox_head.num_classes


def _scored_stages(model_cfg):
    stages = model_cfg.roi_head.get('mask_iou_stages', 'last')
    if 'num_stages' not in model_cfg.roi_head:
        return ['']
    n = model_cfg.roi_head.num_stages
    ids = range(n) if stages == 'all' else (
        [n - 1] if stages == 'last' else stages)
    return [f's{i}.' for i in ids]


def test_configs_found():
    assert any('ms_rcnn' in c for c in CONFIGS)
    assert any('demo' in c for c in CONFIGS)


@pytest.mark.parametrize('config', CONFIGS)
def test_config_trains_and_predicts(config):
    cfg = Config.fromfile(osp.join(REPO_ROOT, config))
    model_cfg = cfg.model
    strip_pretrained(model_cfg)
    queryinst = 'queryinst' in config
    if queryinst:  # 256 channels, six stages: slimmed to stay fast
        slim_queryinst(model_cfg)
    model = build_model(model_cfg)
    if queryinst:
        steady_boxes(model)
    # mmcv's CPU deformable conv needs C5 (stride 32) of at least 3 x 3
    size = 96 if 'dconv' in config else 64
    num_classes = _num_classes(model_cfg)
    # HTC keeps its semantic branch in the RoI head
    semantic = 'semantic_head' in model_cfg.get('roi_head', {})
    model.train()
    losses = model.loss(*demo_batch(
        model, num_classes, size=size, with_semantic=semantic))
    scored = model_cfg.roi_head.get('mask_iou_head') is not None
    # configs/demo/mmdet-ms-rcnn_*: mmdet's own MS R-CNN, for comparisons
    ours = str(model_cfg.roi_head.type).startswith('mmdet_msrcnn.')
    for prefix in _scored_stages(model_cfg) if scored else []:
        key = f'{prefix}loss_mask_iou'
        assert key in losses, (key, sorted(losses))
        assert torch.isfinite(losses[key])
    loss = sum(v.sum() if isinstance(v, torch.Tensor) else sum(v)
               for k, v in losses.items() if 'loss' in k)
    assert torch.isfinite(loss)
    loss.backward()
    model.eval()
    model.test_cfg.rcnn.score_thr = 0.0
    with torch.no_grad():
        results = model.predict(*demo_batch(
            model, num_classes, size=size, training=False,
            with_semantic=semantic))
    inst = results[0].pred_instances
    assert len(inst) > 0
    assert inst.masks.shape[1:] == (size, size)
    if ours:  # a learned head or the zero-cost maskness
        assert torch.allclose(inst.mask_scores, inst.scores * inst.mask_ious)
        assert ((inst.mask_ious >= 0) & (inst.mask_ious <= 1)).all()
    elif scored:  # mmdet's head folds the mask score into `scores`
        assert 'mask_scores' not in inst and 'mask_ious' not in inst
