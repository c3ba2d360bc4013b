"""QueryInst (SparseRoIHead + dynamic mask heads) with mask scoring (CPU).

QueryInst keeps the top ``max_per_img`` (query, class) pairs of the last
stage: several detections may share a query and some queries have none, so
a detection must be scored on its own query's RoI feature, and mmdet 3.3's
own ``predict_bbox`` only works when ``max_per_img == num_proposals``.
"""
import copy
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from helpers import (REPO_ROOT, build_model, demo_batch, slim_queryinst,
                     steady_boxes, strip_pretrained)

CONFIG = osp.join(REPO_ROOT,
                  'configs/queryinst_ms/queryinst-ms_r50_fpn_1x_coco.py')
NUM_CLASSES = 80
SIZE = 64


def queryinst_cfg(max_per_img=100, scored=True):
    """The config slimmed (ResNet-18, 32 channels), no pretrained weights."""
    model = copy.deepcopy(Config.fromfile(CONFIG).model)
    strip_pretrained(model)
    model.backbone.depth = 18
    model.neck.in_channels = [64, 128, 256, 512]
    slim_queryinst(model)
    model.test_cfg.rcnn.max_per_img = max_per_img
    if not scored:
        model.roi_head.type = 'SparseRoIHead'
        model.roi_head.pop('mask_iou_head')
    return model


@pytest.fixture(scope='module')
def model():
    return steady_boxes(build_model(queryinst_cfg()))


def predict(model, max_per_img):
    model.eval()
    model.test_cfg.rcnn.max_per_img = max_per_img
    data = demo_batch(model, NUM_CLASSES, batch_size=2, size=SIZE,
                      training=False)
    with torch.no_grad():
        return [r.pred_instances for r in model.predict(*data)]


def test_trains_the_last_stage_head(model):
    model.train()
    model.zero_grad()
    losses = model.loss(*demo_batch(model, NUM_CLASSES, size=SIZE))
    assert torch.isfinite(losses['s5.loss_mask_iou'])
    assert not any(f's{i}.loss_mask_iou' in losses for i in range(5))
    losses['s5.loss_mask_iou'].backward()
    for name, p in model.roi_head.mask_iou_head.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_outputs_equal_the_host_on_the_same_weights(model):
    ours = predict(model, 100)
    plain = steady_boxes(build_model(queryinst_cfg(scored=False)))
    missing, unexpected = plain.load_state_dict(model.state_dict(),
                                                strict=False)
    assert not missing
    assert all(k.startswith('roi_head.mask_iou_head') for k in unexpected)
    theirs = predict(plain, 100)
    for res, ref in zip(ours, theirs):
        assert len(res) == 100
        for key in ('bboxes', 'scores', 'labels', 'masks'):
            assert torch.equal(res.get(key), ref.get(key)), key
        assert ((res.mask_ious >= 0) & (res.mask_ious <= 1)).all()
        torch.testing.assert_close(res.mask_scores,
                                   res.scores * res.mask_ious)
        assert set(res.keys()) == set(ref.keys()) | {
            'mask_ious', 'mask_scores', 'maskness'}


def test_fewer_detections_than_queries(model):
    """``max_per_img=30 < num_proposals=100``: each of the 30 detections
    gets the same MaskIoU as the same detection among the top 100."""
    top100 = predict(model, 100)
    top30 = predict(model, 30)
    for few, many in zip(top30, top100):
        assert len(few) == 30
        for i in range(30):
            j = int(torch.nonzero(many.scores == few.scores[i])[0])
            assert torch.equal(many.bboxes[j], few.bboxes[i])
            assert many.labels[j] == few.labels[i]
            torch.testing.assert_close(many.mask_ious[j], few.mask_ious[i])
