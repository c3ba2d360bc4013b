"""Mask scoring of single-stage and query detectors (CPU, tiny inputs).

* the full-image MaskIoU targets against hand-computed values;
* the scorer's gradient reaches the scorer only (unless
  ``detach_feats=False``), the host's own losses and predictions are the
  plain mmdet host's bit for bit, ``mask_ious`` lie in [0, 1];
* the build-time refusals, tensor mode, state dict keys.
"""
import copy
import os.path as osp

import numpy as np
import pytest
import torch
from mmdet.models.detectors import SOLO, YOLACT
from mmdet.structures.mask import BitmapMasks, PolygonMasks
from mmengine.config import Config

from detector_scoring_utils import (detector_cfg, host_cfg, host_twin,
                                    num_classes_of, predict)
from helpers import REPO_ROOT, build_model, demo_batch
from mmdet_msrcnn.models import MaskScoringDetectorMixin
from mmdet_msrcnn.models.utils import (full_mask_ious, gt_masks_as_tensor,
                                       mask_box_grids, masks_to_boxes)

# one intra-op thread: the two cores are shared with other jobs, and two
# threads on a busy core run many times slower
pytestmark = pytest.mark.usefixtures('one_thread')

RTMDET = 'configs/demo/rtmdet-ins-ms_tiny_shapes.py'
SOLOV2 = 'configs/demo/solov2-ms_r18_shapes.py'
HOSTS = [
    RTMDET, SOLOV2,
    'configs/condinst_ms/condinst-ms_r50_fpn_ms-poly-90k_coco_instance.py',
    'configs/mask2former_ms/mask2former-ms_r50_8xb2-lsj-50e_coco.py'
]
SIZE = 64


def model_cfg_of(config):
    return detector_cfg(Config.fromfile(osp.join(REPO_ROOT, config)), config)


@pytest.fixture(scope='module')
def rtmdet():
    cfg = model_cfg_of(RTMDET)
    return build_model(cfg), cfg


@pytest.fixture(scope='module')
def solov2():
    cfg = model_cfg_of(SOLOV2)
    return build_model(cfg), cfg


# ----------------------------------------------------------------------
# targets
def _box_mask(shape, rows, cols):
    m = torch.zeros(shape, dtype=torch.bool)
    m[rows[0]:rows[1], cols[0]:cols[1]] = True
    return m


def test_full_mask_ious_by_hand():
    img, pad = (8, 8), (10, 10)
    gt = torch.stack([
        _box_mask(pad, (0, 4), (0, 4)),  # class 0, 16 px
        _box_mask(pad, (4, 8), (4, 8)),  # class 1, 16 px
        _box_mask(pad, (6, 8), (0, 2)),  # class 0, 4 px
    ])
    gt_labels = torch.tensor([0, 1, 0])
    gt[0, 9, :] = True  # padding: not part of the image
    hit = _box_mask(pad, (4, 8), (4, 8))
    dets = torch.stack([
        # partly outside GT 0: 8 px inside, union 16 + 16 - 8
        _box_mask(pad, (0, 4), (2, 6)),
        # wrong class: exactly GT 0's pixels, labelled class 1
        _box_mask(pad, (0, 4), (0, 4)),
        hit,  # exactly GT 1
        hit.clone(),  # a duplicate of the hit
        # best of two class-0 instances: 4 of 6 px on GT 2, none on GT 0
        _box_mask(pad, (5, 8), (0, 2)),
    ])
    dets[0, :, 9] = True  # padding again
    labels = torch.tensor([0, 1, 1, 1, 0])
    targets = full_mask_ious(dets, labels, gt, gt_labels, img)
    expected = torch.tensor([8 / 24, 0., 1., 1., 4 / 6])
    assert torch.allclose(targets, expected, atol=1e-6), targets
    # an image without ground truth
    none = full_mask_ious(dets, labels, gt[:0], gt_labels[:0], img)
    assert torch.equal(none, torch.zeros(5))
    # no detections
    assert full_mask_ious(dets[:0], labels[:0], gt, gt_labels,
                          img).shape == (0, )


def test_full_mask_ious_takes_bitmaps_and_polygons():
    bitmap = BitmapMasks(
        np.array([_box_mask((8, 8), (0, 4), (0, 4)).numpy()]).astype(np.uint8),
        8, 8)
    polygon = PolygonMasks([[np.array([0., 0., 4., 0., 4., 4., 0., 4.])]], 8,
                           8)
    det = _box_mask((8, 8), (0, 4), (2, 6))[None]
    for masks in (bitmap, polygon):
        gt = gt_masks_as_tensor(masks, torch.device('cpu'))
        iou = full_mask_ious(det, torch.tensor([0]), gt, torch.tensor([0]),
                             (8, 8))
        assert torch.allclose(iou, torch.tensor([8 / 24]), atol=0.05)


def test_full_mask_ious_refuses_masks_smaller_than_the_image():
    with pytest.raises(ValueError, match='do not cover the image area'):
        full_mask_ious(
            torch.ones(1, 6, 6, dtype=torch.bool), torch.tensor([0]),
            torch.ones(1, 8, 8, dtype=torch.bool), torch.tensor([0]), (8, 8))


def test_masks_to_boxes_and_box_grids():
    masks = torch.stack([
        _box_mask((16, 16), (2, 6), (4, 12)),
        torch.zeros(16, 16, dtype=torch.bool)
    ])
    boxes = masks_to_boxes(masks)
    assert torch.equal(boxes, torch.tensor([[4., 2., 12., 6.], [0.] * 4]))
    # the tight box: the grid is all foreground
    grids = mask_box_grids(masks[:1], boxes[:1], 4)
    assert torch.allclose(grids, torch.ones(1, 4, 4))
    # a box twice as wide: the left half of the grid
    grids = mask_box_grids(masks[:1], torch.tensor([[4., 2., 20., 6.]]), 4)
    assert torch.allclose(grids[0, :, :2], torch.ones(4, 2))
    assert torch.allclose(grids[0, :, 2:], torch.zeros(4, 2))


# ----------------------------------------------------------------------
# training
def _grad_sum(module):
    return sum(
        float(p.grad.abs().sum()) for p in module.parameters()
        if p.grad is not None)


@pytest.mark.parametrize('name', ['rtmdet', 'solov2'])
def test_mask_iou_loss_reaches_the_scorer_only(name, request):
    model, _ = request.getfixturevalue(name)
    model.train()
    model.zero_grad()
    losses = model.loss(*demo_batch(model, 4, batch_size=2, size=SIZE))
    loss = losses['loss_mask_iou']
    assert torch.isfinite(loss) and loss > 0
    loss.backward()
    for pname, p in model.mask_scorer.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, pname
    for pname, p in model.named_parameters():
        if not pname.startswith('mask_scorer.'):
            assert p.grad is None or not p.grad.any(), pname
    # the heads ran in eval mode for the detections, and are back
    assert all(m.training for m in model.modules())


def test_detach_feats_false_trains_the_features():
    cfg = model_cfg_of(RTMDET)
    cfg.mask_scorer.detach_feats = False
    model = build_model(cfg)
    model.train()
    losses = model.loss(*demo_batch(model, 4, size=SIZE))
    losses['loss_mask_iou'].backward()
    assert _grad_sum(model.neck) > 0 and _grad_sum(model.backbone) > 0
    assert _grad_sum(model.bbox_head) == 0  # the detections: no gradient


@pytest.mark.parametrize('name', ['rtmdet', 'solov2'])
def test_host_losses_are_the_plain_hosts(name, request):
    model, cfg = request.getfixturevalue(name)
    host = host_twin(model, cfg)
    model.train()
    host.train()
    ours = model.loss(*demo_batch(model, 4, batch_size=2, size=SIZE))
    theirs = host.loss(*demo_batch(host, 4, batch_size=2, size=SIZE))
    assert set(ours) == set(theirs) | {'loss_mask_iou'}
    for key, value in theirs.items():
        assert torch.equal(torch.as_tensor(ours[key]),
                           torch.as_tensor(value)), key


def test_zero_detections_give_a_zero_loss_in_the_graph():
    cfg = model_cfg_of(RTMDET)
    cfg.test_cfg.score_thr = 2.0  # no detection passes
    model = build_model(cfg)
    model.train()
    losses = model.loss(*demo_batch(model, 4, size=SIZE))
    loss = losses['loss_mask_iou']
    assert torch.isfinite(loss) and float(loss) == 0
    loss.backward()
    assert all(p.grad is not None for p in model.mask_scorer.parameters())


# ----------------------------------------------------------------------
# inference
@pytest.mark.parametrize('name', ['rtmdet', 'solov2'])
@pytest.mark.parametrize('rescale', [True, False])
def test_scores_are_the_plain_hosts(name, rescale, request):
    model, cfg = request.getfixturevalue(name)
    host = host_twin(model, cfg)
    for m in (model, host):
        m.eval()
    data = demo_batch(model, 4, batch_size=2, size=SIZE, training=False)
    with torch.no_grad():
        ours = model.predict(*copy.deepcopy(data), rescale=rescale)
        theirs = host.predict(*copy.deepcopy(data), rescale=rescale)
    for a, b in zip(ours, theirs):
        a, b = a.pred_instances, b.pred_instances
        assert len(a) > 0
        for key in b.keys():
            assert torch.equal(a.get(key), b.get(key)), key
        assert ((a.mask_ious >= 0) & (a.mask_ious <= 1)).all()
        assert torch.equal(a.mask_scores, a.scores * a.mask_ious)


def test_no_detections_get_empty_mask_scores():
    cfg = model_cfg_of(RTMDET)
    cfg.test_cfg.score_thr = 2.0
    model = build_model(cfg)
    for inst in predict(model, 4, batch_size=2):
        assert len(inst) == 0
        assert inst.mask_ious.shape == inst.mask_scores.shape == (0, )


def _upscaled_batch(model, scale=2):
    """One image whose original size is ``scale`` times the input's."""
    inputs, samples = demo_batch(model, 4, size=SIZE, training=False)
    samples[0].set_metainfo(
        dict(
            ori_shape=(SIZE * scale, SIZE * scale),
            scale_factor=(1 / scale, 1 / scale)))
    return inputs, samples


@pytest.mark.parametrize('name', ['rtmdet', 'solov2'])
def test_rescaled_results_are_scored_in_their_own_frame(name, request):
    """Masks pasted at 2x the input: the same MaskIoU as at input scale."""
    model, _ = request.getfixturevalue(name)
    model.eval()
    with torch.no_grad():
        big = model.predict(*_upscaled_batch(model), rescale=True)
        small = model.predict(*_upscaled_batch(model), rescale=False)
    big, small = big[0].pred_instances, small[0].pred_instances
    assert big.masks.shape[-2:] == (2 * SIZE, 2 * SIZE)
    if name == 'rtmdet':  # SOLOv2 always pastes at the original size
        assert small.masks.shape[-2:] == (SIZE, SIZE)
    assert torch.equal(big.scores, small.scores)
    assert torch.allclose(big.mask_ious, small.mask_ious, atol=0.02)


@pytest.mark.parametrize('config', HOSTS)
def test_tensor_mode_ends_with_the_scorer_output(config):
    cfg = model_cfg_of(config)
    model = build_model(cfg).eval()
    num_classes = num_classes_of(model)
    inputs, samples = demo_batch(
        model, num_classes, batch_size=2, size=SIZE, training=False)
    with torch.no_grad():
        outs = model(inputs, copy.deepcopy(samples), mode='tensor')
        dets = model.predict(inputs, copy.deepcopy(samples), rescale=False)
        bare = model(inputs, None, mode='tensor')
    num_dets = sum(len(d.pred_instances) for d in dets)
    assert num_dets > 0
    assert outs[-1].shape == (num_dets, num_classes)
    assert bare[-1].shape[1] == num_classes
    host = host_twin(model, cfg).eval()
    if 'condinst' not in config:  # mmdet's CondInst tensor mode needs GT
        with torch.no_grad():
            theirs = host(inputs, copy.deepcopy(samples), mode='tensor')
        assert len(outs) == len(theirs) + 1  # the host's, then ours


@pytest.mark.parametrize('config', [RTMDET, SOLOV2])
def test_same_seed_same_initial_host_weights(config):
    """A scored run and its host-only twin start from the same detector."""
    cfg = model_cfg_of(config)
    model, host = build_model(cfg), build_model(host_cfg(cfg))
    theirs = host.state_dict()
    for key, value in model.state_dict().items():
        if not key.startswith('mask_scorer.'):
            assert torch.equal(value, theirs[key]), key


def test_state_dict_is_the_hosts_plus_the_scorer(rtmdet):
    model, cfg = rtmdet
    host = build_model(host_cfg(cfg))
    ours, theirs = set(model.state_dict()), set(host.state_dict())
    assert theirs <= ours
    assert all(k.startswith('mask_scorer.') for k in ours - theirs)
    fresh = build_model(cfg)
    result = fresh.load_state_dict(host.state_dict(), strict=False)
    assert not result.unexpected_keys
    assert set(result.missing_keys) == ours - theirs


# ----------------------------------------------------------------------
# build-time refusals
class UnscoredSOLO(MaskScoringDetectorMixin, SOLO):
    """SOLO's own loss / predict would run: no loss_mask_iou, no mask_ious."""


class UnscoredYOLACT(MaskScoringDetectorMixin, YOLACT):
    pass


@pytest.mark.parametrize('cls, host', [(UnscoredSOLO, 'SingleStage'),
                                       (UnscoredYOLACT, 'SingleStage')])
def test_refuses_a_host_without_scored_overrides(cls, host):
    with pytest.raises(TypeError) as err:
        cls(backbone=dict(type='ResNet', depth=18),
            mask_scorer=dict(type='mmdet_msrcnn.DetectionMaskScorer'))
    message = str(err.value)
    assert cls.__name__ in message and host in message
    assert 'mask scoring does not support the host detector' in message


def test_refuses_bad_scorer_configs():
    cfg = model_cfg_of(RTMDET)
    wrong_classes = copy.deepcopy(cfg)
    wrong_classes.mask_scorer.mask_iou_head.num_classes = 80
    with pytest.raises(ValueError, match='num_classes=80 differs'):
        build_model(wrong_classes)
    mmdet_head = copy.deepcopy(cfg)
    mmdet_head.mask_scorer.mask_iou_head.type = 'MaskIoUHead'
    with pytest.raises(TypeError, match="mmdet's MaskIoUHead"):
        build_model(mmdet_head)
    missing = copy.deepcopy(cfg)
    missing.pop('mask_scorer')
    with pytest.raises(ValueError, match='needs a `mask_scorer`'):
        build_model(missing)
    boxes_only = copy.deepcopy(cfg)
    boxes_only.bbox_head.type = 'RTMDetSepBNHead'
    for key in ('num_prototypes', 'dyconv_channels', 'num_dyconvs',
                'loss_mask'):
        boxes_only.bbox_head.pop(key, None)
    with pytest.raises(TypeError, match='RTMDet-Ins head'):
        build_model(boxes_only)


def test_refuses_wrong_channels_at_the_first_forward():
    cfg = model_cfg_of(RTMDET)
    cfg.mask_scorer.in_channels = 32  # the neck gives 64
    cfg.mask_scorer.mask_iou_head.in_channels = 32
    model = build_model(cfg).train()
    with pytest.raises(ValueError, match=r'have \[64, 64, 64\] channels'):
        model.loss(*demo_batch(model, 4, size=SIZE))


def test_mask2former_refuses_panoptic_configs(tmp_path):
    path = tmp_path / 'panoptic.py'
    path.write_text("_base_ = 'mmdet::mask2former/"
                    "mask2former_r50_8xb2-lsj-50e_coco-panoptic.py'\n")
    cfg = Config.fromfile(str(path))
    model_cfg = cfg.model
    model_cfg.type = 'mmdet_msrcnn.MaskScoringMask2Former'
    model_cfg.mask_scorer = dict(
        type='mmdet_msrcnn.DetectionMaskScorer',
        featmap_strides=[4, 8, 16, 32],
        in_channels=[256, 512, 1024, 2048],
        mask_iou_head=dict(type='mmdet_msrcnn.MaskIoUHead', num_classes=80))
    model_cfg.backbone.init_cfg = None
    with pytest.raises(ValueError, match='instance segmentation only') as err:
        build_model(model_cfg)
    assert 'panoptic_on=True' in str(err.value)
    assert 'num_stuff_classes=53' in str(err.value)
