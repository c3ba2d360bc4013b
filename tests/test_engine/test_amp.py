"""Mixed precision: finite MaskIoU loss and targets under autocast (4).

CPU autocast uses bfloat16. mmcv's CPU kernels of NMS and RoIAlign have no
bfloat16 version (on GPU they have half ones), so here they run in float32,
as they would with AMP on a GPU; everything else, the MaskIoU head
included, runs under ``torch.autocast('cpu', dtype=torch.bfloat16)``.
"""
import sys

import pytest
import torch
from mmengine.config import Config

from helpers import REPO_ROOT, build_model, demo_batch, tiny_model_cfg

# one intra-op thread, as every test that runs a training (tests/conftest.py)
pytestmark = pytest.mark.usefixtures('one_thread')

NUM_CLASSES = 4
AMP_CONFIG = f'{REPO_ROOT}/configs/ms_rcnn/ms-rcnn_r50_fpn_amp-1x_coco.py'


@pytest.fixture
def mmcv_ops_in_fp32(monkeypatch):
    import mmcv.ops  # noqa: F401
    nms_module = sys.modules['mmcv.ops.nms']
    roi_align_module = sys.modules['mmcv.ops.roi_align']
    nms = nms_module.nms
    roi_align_forward = roi_align_module.RoIAlign.forward

    def nms_fp32(boxes, scores, *args, **kwargs):
        with torch.autocast('cpu', enabled=False):
            return nms(boxes.float(), scores.float(), *args, **kwargs)

    def roi_align_fp32(self, feats, rois):
        with torch.autocast('cpu', enabled=False):
            out = roi_align_forward(self, feats.float(), rois.float())
        return out.to(feats.dtype)

    monkeypatch.setattr(nms_module, 'nms', nms_fp32)
    monkeypatch.setattr(roi_align_module.RoIAlign, 'forward', roi_align_fp32)


@pytest.mark.parametrize('iou_thr', [None, 0.5])
def test_bf16_autocast_train_step(mmcv_ops_in_fp32, iou_thr):
    cfg = tiny_model_cfg()
    cfg.roi_head.mask_iou_head.iou_thr = iou_thr
    model = build_model(cfg)
    model.train()
    head = model.roi_head.mask_iou_head
    seen = {}
    get_targets, forward = head.get_targets, head.forward

    def spy_targets(*args, **kwargs):
        seen['targets'] = get_targets(*args, **kwargs)
        return seen['targets']

    def spy_forward(*args, **kwargs):
        seen['preds'] = forward(*args, **kwargs)
        return seen['preds']

    head.get_targets, head.forward = spy_targets, spy_forward
    inputs, samples = demo_batch(model, NUM_CLASSES, batch_size=2, size=64)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        losses = model.loss(inputs, samples)
    assert seen['preds'].dtype == torch.bfloat16  # really under autocast
    targets = seen['targets']
    assert targets.numel() > 0 and targets.dtype == torch.float32
    assert torch.isfinite(targets).all()
    assert ((targets >= 0) & (targets <= 1)).all()
    loss = losses['loss_mask_iou']
    assert loss.dtype == torch.float32 and torch.isfinite(loss)

    total = sum(v.sum() if isinstance(v, torch.Tensor) else sum(v)
                for k, v in losses.items() if 'loss' in k)
    total.backward()
    for name, p in head.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name


def test_amp_config():
    cfg = Config.fromfile(AMP_CONFIG)
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    assert cfg.optim_wrapper.loss_scale == 'dynamic'
    assert cfg.optim_wrapper.dtype == 'float16'
    # everything else is the fp32 config's
    base = Config.fromfile(AMP_CONFIG.replace('_amp-1x', '_1x'))
    assert cfg.model == base.model
    assert cfg.optim_wrapper.optimizer == base.optim_wrapper.optimizer
    if not torch.cuda.is_available():
        from mmengine.optim import AmpOptimWrapper
        with pytest.raises(AssertionError, match='only available'):
            AmpOptimWrapper(
                optimizer=torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))],
                                          lr=0.1))
