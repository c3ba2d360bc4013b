"""The same computations on a CUDA device as on the CPU.

Skipped where torch sees no GPU (CI has none). Where mmcv was built with its
CPU ops only, its NMS and RoIAlign on CUDA tensors go through torchvision
(``msrcnn_benchmark/torchvision_ops.py``), as in the CUDA speed
benchmark.
"""
import numpy as np
import pytest
import torch
from mmdet.structures.mask import BitmapMasks, PolygonMasks

from helpers import build_model, demo_batch, tiny_model_cfg
from mmdet_msrcnn.models.utils import gt_areas_in_and_out, mask_iou_from_areas

pytestmark = pytest.mark.skipif(
    not torch.cuda.is_available(), reason='needs a CUDA device')

NUM_CLASSES = 4


@pytest.fixture(scope='module', autouse=True)
def cuda_ops():
    from msrcnn_benchmark import torchvision_ops
    if not torchvision_ops.mmcv_has_cuda_ops():
        torchvision_ops.patch_mmcv_ops()
    yield


def random_case(kind, num_rois=300, size=64, num_gt=5, seed=0):
    rng = np.random.default_rng(seed)
    bitmaps = np.zeros((num_gt, size, size), np.uint8)
    polygons = []
    for g in range(num_gt):
        x0, y0 = rng.uniform(0, size / 2, 2)
        w, h = rng.uniform(4, size / 2, 2)
        poly = np.array([x0, y0, x0 + w, y0, x0 + w / 2, y0 + h])
        polygons.append([poly])
        bitmaps[g] = PolygonMasks([[poly]], size, size).to_ndarray()[0]
    masks = (BitmapMasks(bitmaps, size, size)
             if kind == 'bitmap' else PolygonMasks(polygons, size, size))
    xy = rng.uniform(-4, size, (num_rois, 2))
    wh = rng.uniform(1, size / 2, (num_rois, 2))
    boxes = torch.from_numpy(np.concatenate([xy, xy + wh], 1)).float()
    boxes = boxes.clamp(0, size)
    inds = torch.from_numpy(rng.integers(0, num_gt, num_rois))
    probs = torch.from_numpy(rng.uniform(0, 1, (num_rois, 28, 28))).float()
    targets = (torch.from_numpy(rng.uniform(0, 1, (num_rois, 28, 28))) >
               0.5).float()
    return masks, inds, boxes, probs, targets


@pytest.mark.parametrize('kind', ['bitmap', 'polygon'])
def test_targets_on_cuda_equal_cpu(kind):
    masks, inds, boxes, probs, targets = random_case(kind)
    out = {}
    for device in ('cpu', 'cuda'):
        b = boxes.to(device)
        inside, whole = gt_areas_in_and_out(masks, inds.to(device), b)
        assert inside.device.type == device
        iou = mask_iou_from_areas(
            probs.to(device), targets.to(device), b, inside, whole, 0.5)
        out[device] = (inside.cpu(), whole.cpu(), iou.cpu())
    for cpu, cuda in zip(out['cpu'], out['cuda']):
        assert torch.allclose(cpu, cuda, rtol=1e-5, atol=1e-3)
    assert (out['cuda'][2] >= 0).all() and (out['cuda'][2] <= 1).all()


def test_train_step_and_predict_on_cuda():
    model = build_model(tiny_model_cfg()).cuda()
    model.train()
    losses = model.loss(*demo_batch(model, NUM_CLASSES, batch_size=2))
    assert losses['loss_mask_iou'].is_cuda
    assert torch.isfinite(losses['loss_mask_iou'])
    sum(v.sum() if isinstance(v, torch.Tensor) else sum(v)
        for k, v in losses.items() if 'loss' in k).backward()
    for name, p in model.roi_head.mask_iou_head.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    model.eval()
    with torch.no_grad():
        results = model.predict(
            *demo_batch(model, NUM_CLASSES, batch_size=2, training=False))
    for res in results:
        pred = res.pred_instances
        assert pred.mask_scores.is_cuda
        assert torch.allclose(pred.mask_scores,
                              pred.scores * pred.mask_ious)
        assert ((pred.mask_ious >= 0) & (pred.mask_ious <= 1)).all()
