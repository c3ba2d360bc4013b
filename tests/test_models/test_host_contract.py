"""The plug-in contract: explicit overrides, checked when the head is built.

A RoI head class that mixes :class:`MaskScoringMixin` in front of a host
without overriding the host's ``mask_loss`` / ``predict_mask`` would run
the host's unscored methods (no ``loss_mask_iou``, no ``mask_ious``); it is
refused at build time with the host's name.
"""
import os
import os.path as osp
import re

import pytest
import torch
from mmdet.models.roi_heads import (SCNetRoIHead, SparseRoIHead,
                                    StandardRoIHead)
from mmdet.structures.bbox import bbox2roi

from helpers import REPO_ROOT, build_model, demo_batch, tiny_model_cfg
from mmdet_msrcnn.models import MaskScoringMixin, MaskScoringRoIHead

HEAD = dict(type='mmdet_msrcnn.MaskIoUHead', num_classes=4)


class UnscoredSCNetRoIHead(MaskScoringMixin, SCNetRoIHead):
    """SCNet's own mask_loss keeps only ``loss_mask['loss_mask']``."""


class UnscoredQueryInstRoIHead(MaskScoringMixin, SparseRoIHead):
    pass


class UnscoredStandardRoIHead(MaskScoringMixin, StandardRoIHead):
    pass


class HalfBoxLossRoIHead(StandardRoIHead):
    """A user's host: its own box loss, StandardRoIHead's mask path."""

    def bbox_loss(self, x, sampling_results):
        bbox_results = super().bbox_loss(x, sampling_results)
        bbox_results['loss_bbox'] = {
            k: v * 0.5
            for k, v in bbox_results['loss_bbox'].items()
        }
        return bbox_results


class HalfBoxLossMaskScoringRoIHead(MaskScoringRoIHead, HalfBoxLossRoIHead):
    """Scored by putting MaskScoringRoIHead first: no new override."""


@pytest.mark.parametrize('cls, host', [
    (UnscoredSCNetRoIHead, 'SCNetRoIHead'),
    (UnscoredQueryInstRoIHead, 'SparseRoIHead'),
    (UnscoredStandardRoIHead, 'StandardRoIHead'),
])
def test_host_without_scoring_overrides_is_refused(cls, host):
    with pytest.raises(
            TypeError,
            match=rf'{cls.__name__}: mask scoring does not support the '
            rf'host RoI head {host}: its `mask_loss` is not overridden'):
        cls(mask_iou_head=HEAD)


def test_host_that_keeps_the_standard_mask_path_is_accepted():
    cfg = tiny_model_cfg()
    cfg.roi_head.type = HalfBoxLossMaskScoringRoIHead
    model = build_model(cfg)
    assert isinstance(model.roi_head, HalfBoxLossRoIHead)
    model.train()
    losses = model.loss(*demo_batch(model, 4, size=64))
    assert torch.isfinite(losses['loss_mask_iou'])


def test_tensor_mode_returns_the_mask_iou_output():
    """mmdet's ``get_flops`` and exporters read tensor-mode ``forward``."""
    model = build_model(tiny_model_cfg())
    model.eval()
    inputs, samples = demo_batch(model, 4, size=64, training=False)
    with torch.no_grad():
        outs = model(inputs, samples, mode='tensor')
    (roi_outs, ) = outs  # TwoStageDetector._forward: the RoI head's
    cls_score, bbox_pred, mask_preds, mask_iou_preds = roi_outs
    num_rois = cls_score.shape[0]
    num_masks = min(num_rois, 100)
    assert cls_score.shape == (num_rois, 5)
    assert mask_preds.shape == (num_masks, 4, 28, 28)
    assert mask_iou_preds.shape == (num_masks, 4)
    # the same numbers as the head on the same RoIs and top classes
    roi_head = model.roi_head
    labels = cls_score[:num_masks, :4].argmax(1)
    rows = torch.arange(num_masks)
    x = model.extract_feat(inputs)
    rpn = model.rpn_head.predict(x, samples, rescale=False)
    rois = bbox2roi([r.bboxes for r in rpn])[:100]
    extractor = roi_head.mask_roi_extractor
    feats = extractor(x[:extractor.num_inputs], rois)
    with torch.no_grad():
        want = roi_head.mask_iou_head(
            feats, mask_preds[rows, labels].sigmoid())
    torch.testing.assert_close(mask_iou_preds, want)


def test_no_method_patching_in_the_package():
    """No module's methods are replaced at run time, no forward hooks."""
    pattern = re.compile(r'setattr\(|register_forward(_pre)?_hook')
    root = osp.join(REPO_ROOT, 'mmdet_msrcnn')
    found = []
    for folder, _, files in os.walk(root):
        for name in files:
            if name.endswith('.py'):
                path = osp.join(folder, name)
                for i, line in enumerate(open(path), 1):
                    if pattern.search(line):
                        found.append(f'{path}:{i}: {line.strip()}')
    assert found == []
