"""The ranking loss on the mask scores of detections (score_rank_loss).

The hinge on ``cls x predicted IoU`` against ``cls x true IoU`` by hand,
with its gradient; pairs that cross images but never classes; the config
checks; the loss in the two-stage host (its own detections) and in a
single-stage scorer, and the clear error where no detections are trained on.
"""
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from detector_scoring_utils import detector_cfg
from helpers import REPO_ROOT, build_model, one_step_losses, tiny_model_cfg
from mmdet_msrcnn.models import MaskIoUHead

NUM_CLASSES = 4


def score_rank_head(**cfg):
    return MaskIoUHead(
        num_classes=3, roi_feat_size=2, in_channels=4, score_rank_loss=cfg)


# four detections of class 0 and one of class 1:
#   cls c:        0.9  0.5  0.8  0.4
#   true IoU t:   0.5  1.0  0.0  0.0   -> oracle o = c t: 0.45 0.5 0 0
#   pred p:       0.6  0.6  0.3  0.5   -> mask score m = c p: .54 .3 .24 .2
# detection 2 is of class 1 (alone); pairs (i, j) of class 0 with
# o_i - o_j > 0.02: (1, 0) gap 0.05, (0, 3) gap 0.45, (1, 3) gap 0.5
#   (1, 0): 0.05 - (0.30 - 0.54) = 0.29
#   (0, 3): 0.45 - (0.54 - 0.20) = 0.11
#   (1, 3): 0.50 - (0.30 - 0.20) = 0.40
SCORES = torch.tensor([0.9, 0.5, 0.8, 0.4])
TARGETS = torch.tensor([0.5, 1.0, 0.0, 0.0])
PREDS = [0.6, 0.6, 0.3, 0.5]
LABELS = torch.tensor([0, 0, 1, 0])


def test_score_ranking_loss_by_hand():
    preds = torch.tensor(PREDS, requires_grad=True)
    loss = score_rank_head().score_ranking_loss(preds, TARGETS, SCORES,
                                                LABELS)
    assert loss.item() == pytest.approx((0.29 + 0.11 + 0.40) / 3)
    loss.backward()
    # d hinge(i, j) / d p_i = -c_i, / d p_j = +c_j, each over 3 pairs
    expected = torch.tensor([(-0.9 + 0.9) / 3, -2 * 0.5 / 3, 0.0,
                             2 * 0.4 / 3])
    torch.testing.assert_close(preds.grad, expected)


def test_weight_gap_and_classes():
    preds = torch.tensor(PREDS)
    double = score_rank_head(loss_weight=2.0).score_ranking_loss(
        preds, TARGETS, SCORES, LABELS)
    assert double.item() == pytest.approx(2 * 0.8 / 3)
    # a gap above 0.05 drops the pair (1, 0)
    wide = score_rank_head(min_gap=0.1).score_ranking_loss(
        preds, TARGETS, SCORES, LABELS)
    assert wide.item() == pytest.approx((0.11 + 0.40) / 2)
    # every detection of its own class: no pair, zero in the graph
    alone = torch.tensor(PREDS, requires_grad=True)
    none = score_rank_head().score_ranking_loss(alone, TARGETS, SCORES,
                                                torch.arange(4))
    assert none.item() == 0
    none.backward()
    assert not alone.grad.any()


def test_score_rank_loss_config_is_checked():
    with pytest.raises(ValueError, match=r"unknown keys \['min_target'\]"):
        score_rank_head(min_target=0.1)
    with pytest.raises(ValueError, match='min_gap in'):
        score_rank_head(min_gap=1.0)
    with pytest.raises(ValueError, match='loss_weight must be positive'):
        score_rank_head(loss_weight=-1)
    assert MaskIoUHead(num_classes=3).score_rank_loss is None


def test_needs_the_detection_training():
    cfg = tiny_model_cfg()
    cfg.roi_head.mask_iou_head.score_rank_loss = dict()
    with pytest.raises(ValueError, match='set mask_iou_detections'):
        build_model(cfg)


def test_two_stage_host_trains_with_it():
    cfg = tiny_model_cfg(mask_iou_detections=dict(loss_weight=1.0))
    cfg.roi_head.mask_iou_head.score_rank_loss = dict(min_gap=0.0)
    cfg.test_cfg.rcnn.score_thr = 0.0
    model, losses = one_step_losses(cfg, NUM_CLASSES)
    loss = losses['loss_mask_iou_dets_score_rank']
    assert torch.isfinite(loss) and loss > 0
    assert 'loss_mask_iou_score_rank' not in losses  # positives: no scores
    loss.backward()
    grads = [p.grad for p in model.roi_head.mask_iou_head.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)


def test_two_stage_host_without_detections_keeps_the_key():
    cfg = tiny_model_cfg(mask_iou_detections=dict(loss_weight=1.0))
    cfg.roi_head.mask_iou_head.score_rank_loss = dict()
    cfg.test_cfg.rcnn.score_thr = 1.1  # no detection passes
    _, losses = one_step_losses(cfg, NUM_CLASSES)
    zero = losses['loss_mask_iou_dets_score_rank']
    assert zero.item() == 0 and zero.requires_grad


def test_single_stage_scorer_trains_with_it():
    config = 'configs/demo/rtmdet-ins-ms_tiny_shapes.py'
    cfg = detector_cfg(Config.fromfile(osp.join(REPO_ROOT, config)), config)
    cfg.mask_scorer.mask_iou_head.score_rank_loss = dict(min_gap=0.0)
    model, losses = one_step_losses(cfg, 4)
    loss = losses['loss_mask_iou_score_rank']
    assert torch.isfinite(loss)
    loss.backward()
    assert all(p.grad is not None
               for p in model.mask_scorer.mask_iou_head.parameters())
