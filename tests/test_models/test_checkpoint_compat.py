"""Checkpoints of mmdet's built-in Mask Scoring R-CNN load into ours.

mmdet's model (``MaskScoringRCNN`` with mmdet's ``MaskScoringRoIHead`` and
``MaskIoUHead``) and ours are both the slim demo model (R-18 FPN, 64
channels, 4 classes); mmdet's weights are saved as an mmengine-style
checkpoint, converted with ``tools/model_converters/convert_mmdet_ms_rcnn.py``
and loaded strictly into ours.
"""
import argparse
import copy
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer

from helpers import (DEMO_MS, REPO_ROOT, build_model, demo_batch, load_tool,
                     tiny_model_cfg)
from mmdet_msrcnn.utils import (CheckpointConversionError,
                                convert_mmdet_ms_rcnn_checkpoint,
                                convert_mmdet_ms_rcnn_state_dict)

NUM_CLASSES = 4
TOOL = osp.join(REPO_ROOT, 'tools/model_converters/convert_mmdet_ms_rcnn.py')
#: per-class bias of mmdet's fc_mask_iou: IoUs inside [0, 1] for classes 0
#: and 3, above 1 for class 1, below 0 for class 2 (clamped by ours)
IOU_BIAS = [0.5, 1.4, -0.4, 0.3]


def mmdet_model_cfg():
    """The demo model as mmdet's own Mask Scoring R-CNN."""
    cfg = tiny_model_cfg()
    cfg.type = 'MaskScoringRCNN'
    ours = cfg.roi_head.mask_iou_head
    cfg.roi_head.type = 'MaskScoringRoIHead'  # bare names: mmdet's classes
    cfg.roi_head.mask_iou_head = dict(
        type='MaskIoUHead',
        num_convs=4,
        num_fcs=2,
        roi_feat_size=ours.roi_feat_size,
        in_channels=ours.in_channels,
        conv_out_channels=ours.conv_out_channels,
        fc_out_channels=ours.fc_out_channels,
        num_classes=NUM_CLASSES)
    return cfg


@pytest.fixture(scope='module')
def theirs():
    model = build_model(mmdet_model_cfg())
    head = model.roi_head.mask_iou_head
    assert type(head).__module__.startswith('mmdet.')
    assert type(model.roi_head).__module__.startswith('mmdet.')
    with torch.no_grad():
        head.fc_mask_iou.bias.copy_(torch.tensor(IOU_BIAS))
    return model.eval()


def save_mmdet_checkpoint(model, path, **extra_meta):
    """An mmengine runner checkpoint: meta, weights, optimizer, hub."""
    checkpoint = dict(
        meta=dict(
            epoch=12,
            iter=1000,
            mmdet_version='3.3.0',
            seed=np.int64(0),
            dataset_meta=dict(classes=('a', 'b', 'c', 'd')),
            **extra_meta),
        state_dict=model.state_dict(),
        optimizer=dict(state={}, param_groups=[dict(lr=0.02)]),
        message_hub=dict(
            log_scalars=dict(loss=HistoryBuffer([1.0, 0.5], [1, 1]))))
    torch.save(checkpoint, path)


def run_tool(*argv):
    tool = load_tool(osp.relpath(TOOL, REPO_ROOT))
    tool.main([str(a) for a in argv])


@pytest.fixture(scope='module')
def ours(theirs, tmp_path_factory):
    tmp = tmp_path_factory.mktemp('ckpt')
    src, dst = tmp / 'mmdet_ms_rcnn.pth', tmp / 'ours.pth'
    save_mmdet_checkpoint(theirs, src)
    run_tool(src, dst, '--config', DEMO_MS)
    # only tensors and plain data: no global to unpickle at all
    assert torch.serialization.get_unsafe_globals_in_checkpoint(str(dst)) == []
    checkpoint = torch.load(dst, map_location='cpu', weights_only=True)
    assert set(checkpoint) == {'state_dict', 'meta'}
    meta = checkpoint['meta']
    assert meta['seed'] == 0 and isinstance(meta['seed'], int)
    assert meta['dataset_meta']['classes'] == ('a', 'b', 'c', 'd')
    assert meta['converted_from'] == 'mmdet MaskScoringRCNN'
    model = build_model(tiny_model_cfg())
    model.load_state_dict(checkpoint['state_dict'], strict=True)
    return model.eval()


def test_same_module_names(theirs, ours):

    def iou_keys(model):
        return {
            k: v.shape
            for k, v in model.state_dict().items()
            if k.startswith('roi_head.mask_iou_head.')
        }

    assert iou_keys(theirs) == iou_keys(ours)
    assert len(iou_keys(ours)) == 2 * (4 + 2 + 1)
    assert set(theirs.state_dict()) == set(ours.state_dict())


def test_raw_mask_iou_predictions_agree(theirs, ours):
    """mmdet's head takes mask logits, ours probabilities."""
    torch.manual_seed(0)
    feats = torch.randn(6, 64, 14, 14)
    logits = 4 * torch.randn(6, 28, 28)
    with torch.no_grad():
        expected = theirs.roi_head.mask_iou_head(feats, logits)
        got = ours.roi_head.mask_iou_head(feats, logits.sigmoid())
    assert got.shape == (6, NUM_CLASSES)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


def test_end_to_end_scores_agree(theirs, ours):
    raw = []
    handle = theirs.roi_head.mask_iou_head.register_forward_hook(
        lambda mod, args, out: raw.append(out))
    data = demo_batch(
        theirs, NUM_CLASSES, batch_size=2, size=64, training=False)
    for model in (theirs, ours):  # the same test_cfg, full work
        model.test_cfg.rcnn.score_thr = 0.0
    try:
        with torch.no_grad():
            mmdet_results = theirs.predict(*copy.deepcopy(data))
            our_results = ours.predict(*copy.deepcopy(data))
    finally:
        handle.remove()
        for model in (theirs, ours):
            model.test_cfg.rcnn.score_thr = 0.05
    assert len(raw) == 1
    raw = raw[0].split([len(r.pred_instances) for r in mmdet_results])
    num_in = num_out = 0
    for res, ref, preds in zip(our_results, mmdet_results, raw):
        inst, ref = res.pred_instances, ref.pred_instances
        assert len(inst) == len(ref) > 0
        torch.testing.assert_close(inst.bboxes, ref.bboxes)
        assert torch.equal(inst.labels, ref.labels)
        assert torch.equal(inst.masks, ref.masks)
        iou = preds[torch.arange(len(ref)), ref.labels]
        # mmdet: scores = box score * unclamped IoU; ours keep box scores
        torch.testing.assert_close(ref.scores, inst.scores * iou)
        torch.testing.assert_close(inst.mask_ious, iou.clamp(0, 1))
        inside = (iou >= 0) & (iou <= 1)
        torch.testing.assert_close(inst.mask_scores[inside],
                                   ref.scores[inside])
        num_in += int(inside.sum())
        num_out += int((~inside).sum())
    assert num_in > 0 and num_out > 0  # both cases were exercised


def test_conversion_lists_bad_mask_iou_keys(theirs):
    state_dict = theirs.state_dict()
    del state_dict['roi_head.mask_iou_head.fcs.1.bias']
    state_dict['roi_head.mask_iou_head.fc_extra.weight'] = torch.zeros(1)
    with pytest.raises(CheckpointConversionError) as err:
        convert_mmdet_ms_rcnn_state_dict(state_dict)
    msg = str(err.value)
    assert "Unexpected MaskIoU keys: ['roi_head.mask_iou_head.fc_extra." \
        "weight']" in msg
    assert "missing MaskIoU keys: ['roi_head.mask_iou_head.fcs.1.bias']" \
        in msg


def test_conversion_checks_the_target_keys(theirs):
    state_dict = theirs.state_dict()
    # a target model whose MaskIoU head has 3 convolutions
    expected = [k for k in state_dict if 'mask_iou_head.convs.3.' not in k]
    with pytest.raises(ValueError) as err:
        convert_mmdet_ms_rcnn_state_dict(state_dict, expected)
    assert "'roi_head.mask_iou_head.convs.3.weight'" in str(err.value)
    assert 'Unexpected MaskIoU keys' in str(err.value)
    # DDP prefixes are stripped; the tensors are the same objects
    ddp = {'module.' + k: v for k, v in state_dict.items()}
    converted = convert_mmdet_ms_rcnn_state_dict(ddp, list(state_dict))
    assert all(converted[k] is v for k, v in state_dict.items())


def test_conversion_refuses_other_checkpoints(theirs):
    state_dict = theirs.state_dict()
    plain = {k: v for k, v in state_dict.items() if 'mask_iou_head' not in k}
    with pytest.raises(ValueError, match='not a Mask Scoring R-CNN'):
        convert_mmdet_ms_rcnn_state_dict(plain)
    legacy = dict(plain)
    legacy.update({
        k[len('roi_head.'):]: v
        for k, v in state_dict.items() if 'mask_iou_head' in k
    })
    with pytest.raises(ValueError, match='mmdet 1.x layout'):
        convert_mmdet_ms_rcnn_state_dict(legacy)
    wrong = dict(state_dict)
    wrong['roi_head.mask_iou_head.fcs.1.weight'] = torch.zeros(256, 100)
    with pytest.raises(ValueError, match='fcs.1.weight takes 100 inputs'):
        convert_mmdet_ms_rcnn_state_dict(wrong)


def test_untrusted_pickle_needs_consent(theirs, tmp_path):
    src, dst = tmp_path / 'in.pth', tmp_path / 'out.pth'
    save_mmdet_checkpoint(theirs, src, args=argparse.Namespace(lr=0.02))
    with pytest.raises(RuntimeError, match='Refused to load'):
        convert_mmdet_ms_rcnn_checkpoint(str(src), str(dst))
    assert not dst.exists()
    out = convert_mmdet_ms_rcnn_checkpoint(
        str(src), str(dst), trust_pickle=True)
    assert out['meta']['dropped_meta'] == ['args (Namespace)']
    checkpoint = torch.load(dst, map_location='cpu', weights_only=True)
    assert 'args' not in checkpoint['meta']


@pytest.mark.parametrize('config', [
    'ms-rcnn_r18_fpn_shapes', 'cascade-ms-rcnn_r18_fpn_shapes'])
def test_state_dict_layout_of_earlier_checkpoints(config):
    """Weights saved before the explicit-override redesign still load.

    ``tests/data/state_dict_keys_<config>.txt`` lists every name and shape
    of the state dict the earlier code saved for the demo configs; the
    current models hold exactly those (checked loading real earlier
    checkpoints with ``strict=True`` too: same scores, masks, mask_ious).
    """
    path = osp.join(REPO_ROOT, 'tests', 'data',
                    f'state_dict_keys_{config}.txt')
    with open(path) as f:
        earlier = [line.split(' ', 1) for line in f
                   if not line.startswith('#')]
    earlier = {name: shape.strip() for name, shape in earlier}
    model = build_model(
        tiny_model_cfg(osp.join(REPO_ROOT, 'configs', 'demo', config + '.py')))
    now = {k: str(tuple(v.shape)) for k, v in model.state_dict().items()}
    assert now == earlier
