"""The MaskIoU head's pairwise ranking loss (issue: ranking work).

The hinge by hand on a hand-built group, pairs that never cross images or
classes, the config checks, and the loss in the two-stage host (positives
and its own detections) and in a single-stage scorer.
"""
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from detector_scoring_utils import detector_cfg
from helpers import REPO_ROOT, one_step_losses, tiny_model_cfg
from mmdet_msrcnn.models import MaskIoUHead

NUM_CLASSES = 4


def rank_head(**rank):
    return MaskIoUHead(
        num_classes=3, roi_feat_size=2, in_channels=4, rank_loss=rank)


def test_ranking_loss_by_hand():
    head = rank_head()
    preds = torch.tensor([0.5, 0.5, 0.5, 0.9, 0.2])
    targets = torch.tensor([0.9, 0.5, 0.05, 0.6, 0.8])
    groups = torch.tensor([0, 0, 0, 0, 1])
    # pairs (i above j by > 0.05, t_j >= 0.1) of group 0:
    #   (0, 1): gap 0.4, pred diff 0.0  -> 0.4
    #   (0, 3): gap 0.3, pred diff -0.4 -> 0.7
    #   (3, 1): gap 0.1, pred diff 0.4  -> 0 (far enough apart)
    #   RoI 2 (target 0.05) is never the lower one; RoI 4 is alone
    loss = head.ranking_loss(preds, targets, groups)
    assert loss.item() == pytest.approx((0.4 + 0.7 + 0.0) / 3)
    # the weight scales it; a wider min_gap drops the pair (3, 1)
    assert rank_head(loss_weight=2.0).ranking_loss(
        preds, targets, groups).item() == pytest.approx(2 * 1.1 / 3)
    assert rank_head(min_gap=0.2).ranking_loss(
        preds, targets, groups).item() == pytest.approx(1.1 / 2)


def test_pairs_never_cross_groups():
    head = rank_head()
    preds = torch.tensor([0.5, 0.5], requires_grad=True)
    targets = torch.tensor([0.9, 0.5])
    apart = head.ranking_loss(preds, targets, torch.tensor([0, 1]))
    assert apart.item() == 0
    apart.backward()  # in the graph, zero gradient
    assert preds.grad is not None and not preds.grad.any()
    assert head.ranking_loss(preds, targets,
                             torch.tensor([1, 1])).item() == pytest.approx(0.4)


def test_loss_groups_by_image_and_class():
    """Two RoIs of one class in two images: no pair; in one image: one."""
    head = rank_head()
    preds = torch.zeros(2, 3)
    targets = torch.tensor([0.9, 0.5])
    labels = torch.tensor([1, 1])
    two_imgs = head.loss(preds, targets, labels, torch.tensor([0, 1]))
    assert two_imgs['loss_mask_iou_rank'].item() == 0
    one_img = head.loss(preds, targets, labels, torch.tensor([0, 0]))
    assert one_img['loss_mask_iou_rank'].item() == pytest.approx(0.4)
    other_class = head.loss(preds, targets, torch.tensor([1, 2]),
                            torch.tensor([0, 0]))
    assert other_class['loss_mask_iou_rank'].item() == 0
    # the regression loss is unchanged by the option
    plain = MaskIoUHead(num_classes=3, roi_feat_size=2, in_channels=4)
    torch.testing.assert_close(
        one_img['loss_mask_iou'],
        plain.loss(preds, targets, labels)['loss_mask_iou'])
    with pytest.raises(ValueError, match='img_inds'):
        head.loss(preds, targets, labels)


def test_rank_loss_config_is_checked():
    with pytest.raises(ValueError, match=r"unknown keys \['weight'\]"):
        rank_head(weight=1.0)
    with pytest.raises(ValueError, match='min_gap'):
        rank_head(min_gap=1.5)
    with pytest.raises(ValueError, match='loss_weight must be positive'):
        rank_head(loss_weight=0)


def test_two_stage_host_trains_with_the_ranking_loss():
    cfg = tiny_model_cfg(mask_iou_detections=dict(loss_weight=1.0))
    cfg.roi_head.mask_iou_head.rank_loss = dict(min_target=0.0)
    cfg.test_cfg.rcnn.score_thr = 0.0
    model, losses = one_step_losses(cfg, NUM_CLASSES)
    for key in ('loss_mask_iou_rank', 'loss_mask_iou_dets_rank'):
        assert torch.isfinite(losses[key]), key
    total = losses['loss_mask_iou_rank'] + losses['loss_mask_iou_dets_rank']
    assert total > 0
    total.backward()
    grads = [p.grad for p in model.roi_head.mask_iou_head.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)


def test_single_stage_scorer_trains_with_the_ranking_loss():
    config = 'configs/demo/rtmdet-ins-ms_tiny_shapes.py'
    cfg = detector_cfg(Config.fromfile(osp.join(REPO_ROOT, config)), config)
    cfg.mask_scorer.mask_iou_head.rank_loss = dict(min_target=0.0)
    model, losses = one_step_losses(cfg, 4)
    assert torch.isfinite(losses['loss_mask_iou_rank'])
    losses['loss_mask_iou_rank'].backward()
    assert all(p.grad is not None
               for p in model.mask_scorer.mask_iou_head.parameters())
