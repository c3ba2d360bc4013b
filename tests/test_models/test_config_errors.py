"""Bad configs and inputs give errors naming the field and the fix (1)."""
import json
import subprocess
import sys
import textwrap

import pytest
import torch

from helpers import (REPO_ROOT, build_model, demo_batch, small_mask_iou_head,
                     tiny_model_cfg)

# one intra-op thread, as every test that runs a training (tests/conftest.py)
pytestmark = pytest.mark.usefixtures('one_thread')

NUM_CLASSES = 4


small_head = small_mask_iou_head


# ----------------------------------------------------------------------
# sizes and classes
def test_num_classes_mismatch():
    cfg = tiny_model_cfg()
    cfg.roi_head.mask_iou_head.num_classes = 80
    with pytest.raises(
            ValueError,
            match=r'mask_iou_head.num_classes=80 '
            r'differs from bbox_head.num_classes=4'):
        build_model(cfg)


@pytest.mark.parametrize('field, value, match', [
    ('roi_feat_size', 7, r'roi_feat_size=7 does not fit the '
     r'mask_roi_extractor \(roi_layer.output_size=\(14, 14\)\)'),
    ('in_channels', 32, r'in_channels=32 does not fit the mask_roi_extractor'
     r' \(out_channels=64\)'),
    ('mask_size', 14, r'mask_size=14 differs from the training mask size '
     r'\(train_cfg.rcnn.mask_size=28'),
])
def test_head_that_does_not_fit_the_host_at_build(field, value, match):
    cfg = tiny_model_cfg()
    cfg.roi_head.mask_iou_head[field] = value
    with pytest.raises(ValueError, match=match):
        build_model(cfg)


@pytest.mark.parametrize('field, value', [('roi_feat_size', 7),
                                          ('in_channels', 32)])
def test_roi_feature_mismatch_at_forward(field, value):
    """Called directly (no RoI head to check it), forward still says so."""
    head = small_head(**{field: value})
    with pytest.raises(ValueError, match=f'mask_iou_head.{field}'):
        head(torch.rand(2, 8, 6, 6), torch.rand(2, 12, 12))


@pytest.mark.parametrize('masks, match', [
    (torch.rand(3, 12, 12), 'for 2 RoIs'),
    (torch.rand(2, 12, 10), 'square'),
    (torch.rand(2, 3, 12, 12), r'\(N, M, M\)'),
    (torch.rand(2, 12, 12, 1, 1), 'one square mask per RoI'),
])
def test_mask_layout_mismatch(masks, match):
    with pytest.raises(ValueError, match=match):
        small_head()(torch.rand(2, 8, 6, 6), masks)


def test_all_class_input_needs_num_classes_channels():
    head = small_head(input_mode='concat_all_classes')
    with pytest.raises(ValueError, match=r'\(N, 3, M, M\).*num_classes'):
        head(torch.rand(2, 8, 6, 6), torch.rand(2, 1, 12, 12))


def test_logits_instead_of_probabilities():
    with pytest.raises(ValueError, match='expects probabilities'):
        small_head()(torch.rand(2, 8, 6, 6), torch.randn(2, 12, 12) * 5)


@pytest.mark.parametrize('size', [5, 6, 7, 12, 20, 28])
def test_any_square_mask_size_is_resized(size):
    out = small_head()(torch.rand(2, 8, 6, 6), torch.rand(2, size, size))
    assert out.shape == (2, 3) and torch.isfinite(out).all()


# ----------------------------------------------------------------------
# ablation options
@pytest.mark.parametrize('kwargs, match', [
    (dict(input_mode='concatenate'), 'input_mode'),
    (dict(target_mode='every_class'), 'target_mode'),
    (dict(iou_thr=1.0), 'iou_thr'),
    (dict(roi_feat_size=0), 'roi_feat_size'),
])
def test_unknown_head_option(kwargs, match):
    with pytest.raises(ValueError, match=match):
        small_head(**kwargs)


@pytest.mark.parametrize('stages', ['first', [1], [0.5], 'last_two'])
def test_unknown_mask_iou_stages(stages):
    with pytest.raises(ValueError, match='mask_iou_stages'):
        build_model(tiny_model_cfg(mask_iou_stages=stages))


def test_missing_mask_iou_head():
    cfg = tiny_model_cfg()
    cfg.roi_head.mask_iou_head = None
    with pytest.raises(ValueError, match='needs a `mask_iou_head`'):
        build_model(cfg)


# ----------------------------------------------------------------------
# names without the scope prefix
def test_bare_mask_iou_head_with_our_options():
    cfg = tiny_model_cfg()
    cfg.roi_head.mask_iou_head.type = 'MaskIoUHead'  # mmdet's class
    with pytest.raises(TypeError, match="type='mmdet_msrcnn.MaskIoUHead'"):
        build_model(cfg)


def test_bare_mask_iou_head_with_shared_options():
    cfg = tiny_model_cfg()
    cfg.roi_head.mask_iou_head = dict(
        type='MaskIoUHead', num_classes=NUM_CLASSES, in_channels=64)
    with pytest.raises(TypeError, match="resolves to mmdet's MaskIoUHead"):
        build_model(cfg)


def test_bare_roi_head_with_our_options_fails_in_mmdet():
    """mmdet's MaskScoringRoIHead rejects our options (not our message)."""
    cfg = tiny_model_cfg(mask_score_as_score=True)
    cfg.roi_head.type = 'MaskScoringRoIHead'
    with pytest.raises(TypeError, match="'mask_score_as_score'"):
        build_model(cfg)


def test_bare_roi_head_driving_our_head():
    """mmdet's RoI head builds with our head, then fails clearly."""
    cfg = tiny_model_cfg()
    cfg.roi_head.type = 'MaskScoringRoIHead'
    model = build_model(cfg)
    assert type(model.roi_head).__module__.startswith('mmdet.')
    model.train()
    with pytest.raises(
            ValueError, match="roi_head.type='mmdet_msrcnn.MaskScoringRoI"):
        model.loss(*demo_batch(model, NUM_CLASSES, size=64))
    model.eval()
    model.test_cfg.rcnn.score_thr = 0.0  # detections reach the heads
    with pytest.raises(ValueError, match='expects probabilities'), \
            torch.no_grad():
        model.predict(*demo_batch(model, NUM_CLASSES, size=64, training=False))
    with pytest.raises(TypeError, match="mmdet's MaskScoringRoIHead"):
        model.roi_head.mask_iou_head.loss_and_target()


REGISTRY_PROBE = textwrap.dedent('''
    import json, sys
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    cfg_file = sys.argv[1]
    out = {}
    init_default_scope('mmdet')
    from mmdet.registry import MODELS

    def build(cfg):
        try:
            model = MODELS.build(cfg)
            return 'built ' + type(model.roi_head).__module__
        except Exception as err:  # report, do not crash
            return f'{type(err).__name__}: {err}'

    # 1. not installed: custom_imports fails at config load
    sys.modules['mmdet_msrcnn'] = None
    try:
        Config.fromfile(cfg_file)
        out['custom_imports'] = 'loaded'
    except ImportError as err:
        out['custom_imports'] = f'ImportError: {err}'
    # 2. not installed, no custom_imports: the prefixed type is unknown
    cfg = Config.fromfile(cfg_file, import_custom_modules=False)
    out['not_installed'] = build(cfg.model)
    # 3. installed but never imported: mmengine imports the scope itself
    del sys.modules['mmdet_msrcnn']
    out['imported_before'] = 'mmdet_msrcnn' in sys.modules
    out['never_imported'] = build(cfg.model)
    out['imported_after'] = 'mmdet_msrcnn' in sys.modules
    print('RESULT ' + json.dumps(out))
''')


def test_scope_prefix_without_custom_imports(tmp_path):
    """What mmengine 0.10.7 does with ``mmdet_msrcnn.X`` (subprocess)."""
    script = tmp_path / 'probe.py'
    script.write_text(REGISTRY_PROBE)
    cfg_file = f'{REPO_ROOT}/configs/demo/ms-rcnn_r18_fpn_shapes.py'
    proc = subprocess.run(
        [sys.executable, str(script), cfg_file],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=str(tmp_path))
    line = [x for x in proc.stdout.splitlines() if x.startswith('RESULT ')]
    assert line, proc.stderr[-3000:]
    out = json.loads(line[0][len('RESULT '):])
    assert out['custom_imports'].startswith('ImportError: Failed to import '
                                            'custom modules')
    assert out['not_installed'].startswith('KeyError')
    assert 'mmdet_msrcnn.MaskScoringRoIHead is not in the mmdet::model ' \
        'registry' in out['not_installed']
    assert out['imported_before'] is False
    assert out['never_imported'] == 'built mmdet_msrcnn.models.roi_heads.' \
        'mask_scoring_roi_heads'
    assert out['imported_after'] is True


@pytest.mark.parametrize('where', ['train_cfg', 'test_cfg'])
def test_misspelt_key_we_read_is_refused(where):
    """``mask_thr_binay`` would be ignored and 0.5 used without a word."""
    cfg = tiny_model_cfg()
    cfg[where].rcnn['mask_thr_binay'] = 0.4
    with pytest.raises(
            ValueError,
            match=rf"unknown key 'mask_thr_binay' in {where}.rcnn: did you "
            "mean 'mask_thr_binary'"):
        build_model(cfg)
