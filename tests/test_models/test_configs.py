"""Every config under configs/ builds, trains one step and predicts.

Parametrised over the folder, so a new config is covered automatically.
Pretrained weights are switched off; inputs are a tiny random batch.
``configs/deploy/`` holds mmdeploy configs (no ``model``) and is left out.
The single-stage / query hosts (RTMDet-Ins, SOLOv2, CondInst, Mask2Former,
scored or not) are slimmed (``detector_scoring_utils``) and their scored
predictions compared with the plain mmdet host on the same weights. Every
scored config must give the scorer non-zero gradients; a config that
freezes the detector (``FreezeDetectorHook``, configs/upgrade/) none to
anything else.
"""
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from mmdet_msrcnn.engine import freeze_detector

from detector_scoring_utils import (detector_cfg, host_twin, is_detector_level,
                                    num_classes_of, predict)
from helpers import (REPO_ROOT, build_model, demo_batch, slim_queryinst,
                     steady_boxes, strip_pretrained)

# one intra-op thread: the two cores are shared with other jobs, and two
# threads on a busy core run many times slower
pytestmark = pytest.mark.usefixtures('one_thread')

CONFIGS = sorted(
    osp.relpath(p, REPO_ROOT) for p in glob.glob(
        osp.join(REPO_ROOT, 'configs', '**', '*.py'), recursive=True)
    if '_base_' not in p and not osp.relpath(p, REPO_ROOT).startswith(
        osp.join('configs', 'deploy') + osp.sep))


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
    assert any('rtmdet_ins_ms' in c for c in CONFIGS)
    assert not any(c.startswith('configs/deploy/') for c in CONFIGS)


def check_detector_level_config(config, cfg):
    """A single-stage / query host config: train one step and predict.

    Scored configs: ``loss_mask_iou`` finite, the scorer's gradients
    non-zero, ``mask_ious`` in [0, 1] and ``scores`` equal to the plain
    mmdet host's on the same weights.
    """
    model_cfg = detector_cfg(cfg, config)
    scored = 'mask_scorer' in model_cfg
    model = build_model(model_cfg)
    num_classes = num_classes_of(model)
    model.train()
    losses = model.loss(*demo_batch(model, num_classes, size=64))
    loss = sum(
        sum(v) if isinstance(v, (list, tuple)) else v
        for k, v in losses.items() if 'loss' in k)
    assert torch.isfinite(loss)
    loss.backward()
    if scored:
        assert torch.isfinite(losses['loss_mask_iou'])
        grads = [p.grad for p in model.mask_scorer.parameters()]
        assert all(g is not None for g in grads)
        assert sum(g.abs().sum() for g in grads) > 0
    else:
        assert 'loss_mask_iou' not in losses
    inst = predict(model, num_classes)[0]
    assert len(inst) > 0 and inst.masks.shape[0] == len(inst)
    if not scored:
        assert 'mask_ious' not in inst
        return
    assert ((inst.mask_ious >= 0) & (inst.mask_ious <= 1)).all()
    assert torch.equal(inst.mask_scores, inst.scores * inst.mask_ious)
    host = predict(host_twin(model, model_cfg), num_classes)[0]
    assert torch.equal(inst.scores, host.scores)
    assert torch.equal(inst.labels, host.labels)
    assert torch.equal(inst.masks, host.masks)


@pytest.mark.parametrize('config', CONFIGS)
def test_config_trains_and_predicts(config):
    cfg = Config.fromfile(osp.join(REPO_ROOT, config))
    model_cfg = cfg.model
    if is_detector_level(model_cfg):
        return check_detector_level_config(config, cfg)
    strip_pretrained(model_cfg)
    queryinst = 'queryinst' in config
    if queryinst:  # 256 channels, six stages: slimmed to stay fast
        slim_queryinst(model_cfg)
    model = build_model(model_cfg)
    if queryinst:
        steady_boxes(model)
    # configs/upgrade/*: only the scorer trains (the hook's freezing)
    frozen = any('FreezeDetectorHook' in str(h.get('type'))
                 for h in cfg.get('custom_hooks', []))
    if frozen:
        freeze_detector(model)
    # mmcv's CPU deformable conv needs C5 (stride 32) of at least 3 x 3
    size = 96 if 'dconv' in config else 64
    num_classes = _num_classes(model_cfg)
    # HTC keeps its semantic branch in the RoI head
    semantic = 'semantic_head' in model_cfg.get('roi_head', {})
    model.train()
    losses = model.loss(
        *demo_batch(model, num_classes, size=size, with_semantic=semantic))
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
    if scored:  # the scorer learns; a frozen detector gets no gradient
        named = list(model.named_parameters())
        head_grads = [p.grad for n, p in named if 'mask_iou_head' in n]
        assert head_grads and all(g is not None for g in head_grads)
        # (the tau-0.7 ablation may find no RoI to train on in this batch:
        # then its loss is an exact zero that keeps the head in the graph)
        if sum(float(v) for k, v in losses.items()
               if k.endswith('loss_mask_iou')) > 0:
            assert sum(g.abs().sum() for g in head_grads) > 0
        if frozen:
            leaked = [n for n, p in named
                      if 'mask_iou_head' not in n and p.grad is not None]
            assert leaked == []
    model.eval()
    model.test_cfg.rcnn.score_thr = 0.0
    with torch.no_grad():
        results = model.predict(*demo_batch(
            model,
            num_classes,
            size=size,
            training=False,
            with_semantic=semantic))
    inst = results[0].pred_instances
    assert len(inst) > 0
    assert inst.masks.shape[1:] == (size, size)
    if ours:  # a learned head or the zero-cost maskness
        product = inst.scores * inst.mask_ious
        decay = model_cfg.roi_head.get('mask_overlap_decay')
        if decay:
            from mmdet_msrcnn.models.utils import mask_overlap_decay
            labels = None if decay == 'class_agnostic' else inst.labels
            chance = model_cfg.roi_head.get(
                'mask_overlap_decay_kernel') == 'second_chance'
            product = product * mask_overlap_decay(
                inst.masks, product, labels,
                inst.mask_ious if chance else None)
            assert (product < inst.scores * inst.mask_ious - 1e-6).any()
        assert torch.allclose(inst.mask_scores, product)
        assert ((inst.mask_ious >= 0) & (inst.mask_ious <= 1)).all()
    elif scored:  # mmdet's head folds the mask score into `scores`
        assert 'mask_scores' not in inst and 'mask_ious' not in inst
