"""Add scoring to a trained model: freeze, load, and the upgrade tool.

* :func:`freeze_detector`: one backward step gives gradients to the
  scorer's parameters only; a prefix that matches nothing is refused.
* :class:`FreezeDetectorHook`: the frozen modules stay in eval mode after
  ``model.train()``, and a step changes neither their weights nor the
  BatchNorm running statistics.
* :func:`load_detector_checkpoint`: a Mask R-CNN runner checkpoint loads
  into the MS R-CNN model with only ``roi_head.mask_iou_head.*`` missing,
  and the host's predictions equal the Mask R-CNN's; unexpected, missing
  and reshaped keys are refused by name; loading is weights-only.
* ``tools/upgrade_scoring.py``: two iterations on the tiny shapes set.
"""
import copy
import os
import os.path as osp
from types import SimpleNamespace

import pytest
import torch
from mmengine.config import Config
from mmengine.logging import HistoryBuffer
from torch import nn

from helpers import (DEMO_MASK, REPO_ROOT, build_model, demo_batch, load_tool,
                     strip_pretrained, tiny_model_cfg)
from training_utils import runner_cfg, without_yapf

from mmdet_msrcnn.engine import (DetectorCheckpointError, FreezeDetectorHook,
                                 configure_scorer_upgrade,
                                 default_scorer_prefixes, detector_checkpoint,
                                 freeze_detector, frozen_modules,
                                 load_detector_checkpoint, set_frozen_eval)
from mmdet_msrcnn.engine.hooks import freeze_detector_hook

# one intra-op thread, as every test that runs a training (tests/conftest.py)
pytestmark = pytest.mark.usefixtures('one_thread')

NUM_CLASSES = 4
SIZE = 64
SCORER = 'roi_head.mask_iou_head'
UPGRADE = osp.join(
    REPO_ROOT, 'configs/upgrade/'
    'ms-rcnn_r18_fpn_shapes_frozen-upgrade.py')
UPGRADE_PAPER = osp.join(
    REPO_ROOT, 'configs/upgrade/'
    'ms-rcnn_r18_fpn_shapes_frozen-upgrade-paper.py')


def total_loss(losses):
    return sum(v.sum() if isinstance(v, torch.Tensor) else sum(v)
               for k, v in losses.items() if 'loss' in k)


def is_scorer(name):
    return name.startswith(SCORER + '.')


@pytest.fixture(scope='module')
def mask_rcnn():
    """A (randomly initialized) demo Mask R-CNN: the trained detector."""
    torch.manual_seed(1)
    model = build_model(tiny_model_cfg(DEMO_MASK))
    # non-trivial BatchNorm statistics, as a trained model has
    model.train()
    with torch.no_grad():
        model.loss(*demo_batch(model, NUM_CLASSES, size=SIZE, seed=3))
    return model


@pytest.fixture(scope='module')
def mask_rcnn_checkpoint(mask_rcnn, tmp_path_factory):
    """``mask_rcnn`` saved as a runner checkpoint (meta, state_dict, ...)."""
    path = tmp_path_factory.mktemp('mask_rcnn') / 'epoch_12.pth'
    buffer = HistoryBuffer()
    buffer.update(1.5)
    torch.save(
        dict(
            meta=dict(epoch=12, iter=1200, mmdet_version='3.3.0'),
            state_dict=mask_rcnn.state_dict(),
            optimizer=dict(state={}, param_groups=[dict(lr=1e-5)]),
            message_hub=dict(log_scalars={'train/loss': buffer})), path)
    return str(path)


@pytest.fixture
def ms_model():
    return build_model(tiny_model_cfg())


# ----------------------------------------------------------------------
# freezing
def test_backward_reaches_the_scorer_only(ms_model):
    summary = freeze_detector(ms_model)
    assert summary.trainable_prefixes == [SCORER]
    names = [n for n, _ in ms_model.named_parameters()]
    assert summary.trainable == [n for n in names if is_scorer(n)]
    assert summary.frozen == [n for n in names if not is_scorer(n)]
    assert summary.num_trainable_params == sum(
        p.numel() for p in ms_model.roi_head.mask_iou_head.parameters())
    ms_model.train()
    set_frozen_eval(ms_model, summary.trainable_prefixes)
    losses = ms_model.loss(
        *demo_batch(ms_model, NUM_CLASSES, batch_size=2, size=SIZE))
    # the host's losses are still computed, without a graph
    assert not losses['loss_cls'].requires_grad
    total_loss(losses).backward()
    for name, param in ms_model.named_parameters():
        if is_scorer(name):
            assert param.grad is not None and param.grad.abs().sum() > 0, name
        else:
            assert param.grad is None, name


def test_prefix_matching_nothing_is_refused(ms_model):
    with pytest.raises(
            ValueError,
            match="'roi_head.mask_iou_haed' matches no parameter"
            ".*Did you mean 'roi_head.mask_iou_head'"):
        freeze_detector(ms_model, trainable='roi_head.mask_iou_haed')
    # nothing was frozen
    assert all(p.requires_grad for p in ms_model.parameters())
    with pytest.raises(ValueError, match="'mask_scorer' matches no"):
        freeze_detector(ms_model, trainable=[SCORER, 'mask_scorer'])


def test_default_needs_a_scorer(mask_rcnn):
    with pytest.raises(ValueError, match='MaskRCNN has no scorer to train'):
        freeze_detector(mask_rcnn)


def test_default_prefixes_of_cascade_lists_and_mask_scorer():

    class RoIHead(nn.Module):

        def __init__(self):
            super().__init__()
            self.mask_head = nn.Conv2d(2, 2, 1)
            # a cascade: unscored stages hold an Identity
            self.mask_iou_head = nn.ModuleList(
                [nn.Identity(), nn.Linear(2, 1)])

    class Host(nn.Module):

        def __init__(self):
            super().__init__()
            self.backbone = nn.Sequential(
                nn.Conv2d(3, 2, 1), nn.BatchNorm2d(2))
            self.roi_head = RoIHead()
            self.mask_scorer = nn.Linear(2, 1)

    model = Host()
    assert default_scorer_prefixes(model) == [SCORER, 'mask_scorer']
    summary = freeze_detector(model)
    assert summary.trainable == [
        'roi_head.mask_iou_head.1.weight', 'roi_head.mask_iou_head.1.bias',
        'mask_scorer.weight', 'mask_scorer.bias'
    ]
    assert [n for n, _ in frozen_modules(model, summary.trainable_prefixes)
            ] == ['backbone', 'roi_head.mask_head']


@pytest.mark.parametrize(
    'config, prefix', [
        ('configs/demo/mmdet-ms-rcnn_r18_fpn_shapes.py', SCORER),
        ('configs/demo/cascade-ms-rcnn_r18_fpn_shapes.py', SCORER),
        ('configs/demo/solov2-ms_r18_shapes.py', 'mask_scorer'),
    ],
    ids=['mmdet-ms-rcnn', 'cascade', 'solov2-ms'])
def test_default_prefixes_of_demo_hosts(config, prefix):
    model_cfg = Config.fromfile(osp.join(REPO_ROOT, config)).model
    strip_pretrained(model_cfg)
    model = build_model(model_cfg)
    summary = freeze_detector(model)
    assert summary.trainable_prefixes == [prefix]
    assert summary.trainable and all(
        n.startswith(prefix + '.') for n in summary.trainable)
    assert len(summary.trainable) + len(summary.frozen) == len(
        list(model.parameters()))


def fake_runner(model, cfg=None, iter=0):
    return SimpleNamespace(
        model=model, train_loop=SimpleNamespace(iter=iter), cfg=cfg or {})


def test_hook_keeps_frozen_modules_in_eval(ms_model, mask_rcnn_checkpoint):
    hook = FreezeDetectorHook(checkpoint=mask_rcnn_checkpoint)
    runner = fake_runner(ms_model)
    hook.before_train(runner)
    before = copy.deepcopy(ms_model.state_dict())
    optimizer = torch.optim.AdamW(
        ms_model.parameters(), lr=1e-2, weight_decay=0.05)
    for step in range(2):
        # what mmengine's loops do: model.train(), then before_train_iter
        ms_model.train()
        hook.before_train_iter(runner, batch_idx=step)
        for name, module in ms_model.named_modules():
            frozen = name and not name.startswith(SCORER) and name not in (
                'roi_head', )
            assert module.training != bool(frozen), name
        optimizer.zero_grad()
        total_loss(
            ms_model.loss(*demo_batch(
                ms_model, NUM_CLASSES, batch_size=2, size=SIZE,
                seed=step))).backward()
        optimizer.step()
    after = ms_model.state_dict()
    bn_stats = [
        k for k in after if k.endswith(('running_mean', 'running_var'))
    ]
    assert bn_stats
    for key, value in after.items():
        if is_scorer(key):
            continue
        assert torch.equal(value, before[key]), key
    assert any(not torch.equal(after[k], before[k]) for k in after
               if is_scorer(k))


def test_hook_syncs_ema_copies(ms_model, mask_rcnn, mask_rcnn_checkpoint):
    from mmengine.hooks import EMAHook
    runner = fake_runner(ms_model)
    ema = EMAHook()
    ema.before_run(runner)  # copies the model before the detector loads
    runner.hooks = [ema]
    FreezeDetectorHook(checkpoint=mask_rcnn_checkpoint).before_train(runner)
    averaged = ema.ema_model.module.state_dict()
    for key, value in ms_model.state_dict().items():
        assert torch.equal(averaged[key], value), key
    assert torch.equal(averaged['backbone.conv1.weight'],
                       mask_rcnn.backbone.conv1.weight)


def test_hook_needs_a_detector(ms_model):
    with pytest.raises(ValueError, match='no trained detector to upgrade'):
        FreezeDetectorHook().before_train(fake_runner(ms_model))


# ----------------------------------------------------------------------
# loading
def test_mask_rcnn_checkpoint_loads_into_ms_rcnn(ms_model, mask_rcnn,
                                                 mask_rcnn_checkpoint):
    report = load_detector_checkpoint(ms_model, mask_rcnn_checkpoint)
    scorer_keys = [k for k in ms_model.state_dict() if is_scorer(k)]
    assert scorer_keys and report.scorer_initialized == scorer_keys
    assert report.scorer_loaded == []
    assert report.meta['epoch'] == 12
    assert report.ignored == ['message_hub', 'optimizer']
    plain_state = mask_rcnn.state_dict()
    for key, value in ms_model.state_dict().items():
        if not is_scorer(key):
            assert torch.equal(value, plain_state[key]), key
    # the host part predicts exactly as the Mask R-CNN
    data = demo_batch(
        ms_model, NUM_CLASSES, batch_size=2, size=SIZE, training=False)
    outputs = []
    for model in (ms_model, mask_rcnn):
        model.eval()
        model.test_cfg.rcnn.score_thr = 0.0
        with torch.no_grad():
            outputs.append(model.predict(*copy.deepcopy(data)))
    for res, ref in zip(*outputs):
        inst, ref = res.pred_instances, ref.pred_instances
        assert len(inst) > 0
        for field in ('bboxes', 'scores', 'labels', 'masks'):
            assert torch.equal(inst[field], ref[field]), field
        assert 'mask_scores' in inst and 'mask_scores' not in ref


def saved(tmp_path, state_dict, name='ckpt.pth'):
    path = tmp_path / name
    torch.save(dict(meta=dict(epoch=1), state_dict=state_dict), path)
    return str(path)


def test_unexpected_key_is_refused(ms_model, mask_rcnn, tmp_path):
    state = dict(mask_rcnn.state_dict())
    state['roi_head.semantic_head.conv.weight'] = torch.zeros(1)
    before = copy.deepcopy(ms_model.state_dict())
    with pytest.raises(
            DetectorCheckpointError,
            match='1 unexpected key.*roi_head.semantic_head.conv'
            '.weight.*Nothing was loaded'):
        load_detector_checkpoint(ms_model, saved(tmp_path, state))
    for key, value in ms_model.state_dict().items():
        assert torch.equal(value, before[key]), key


def test_missing_detector_key_is_refused(ms_model, mask_rcnn, tmp_path):
    state = dict(mask_rcnn.state_dict())
    del state['roi_head.bbox_head.fc_cls.weight']
    with pytest.raises(
            DetectorCheckpointError,
            match='1 key.*of the detector missing.*'
            'roi_head.bbox_head.fc_cls.weight'):
        load_detector_checkpoint(ms_model, saved(tmp_path, state))


def test_other_shapes_are_refused(ms_model, mask_rcnn, tmp_path):
    state = dict(mask_rcnn.state_dict())
    state['roi_head.bbox_head.fc_cls.weight'] = torch.zeros(81, 256)
    with pytest.raises(
            DetectorCheckpointError,
            match=r'roi_head.bbox_head.fc_cls.weight \(81, 256\) '
            r'in the checkpoint, \(5, 256\) in the model'):
        load_detector_checkpoint(ms_model, saved(tmp_path, state))


def test_bare_and_ddp_state_dicts_load(ms_model, mask_rcnn, tmp_path):
    state = {'module.' + k: v for k, v in mask_rcnn.state_dict().items()}
    path = tmp_path / 'bare.pth'
    torch.save(state, path)
    report = load_detector_checkpoint(ms_model, str(path))
    assert report.meta == {} and report.ignored == []
    assert torch.equal(ms_model.roi_head.bbox_head.fc_cls.weight,
                       mask_rcnn.roi_head.bbox_head.fc_cls.weight)


def test_loading_is_weights_only(ms_model, mask_rcnn_checkpoint, tmp_path,
                                 monkeypatch):
    calls = []
    real_load = torch.load

    def spy(*args, **kwargs):
        calls.append(kwargs.get('weights_only'))
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, 'load', spy)
    load_detector_checkpoint(ms_model, mask_rcnn_checkpoint)
    assert calls == [True]
    source = open(detector_checkpoint.__file__).read()
    assert 'weights_only=False' not in source
    # a pickle that calls code on load is refused, and not run
    marker = tmp_path / 'pwned'
    path = tmp_path / 'evil.pth'
    torch.save(dict(state_dict={}, meta=ShellPayload(f'touch {marker}')), path)
    with pytest.raises(RuntimeError, match='Refused to load'):
        load_detector_checkpoint(ms_model, str(path))
    assert not marker.exists()


class ShellPayload:
    """Runs a shell command when unpickled by plain pickle."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command, )


# ----------------------------------------------------------------------
# configs and the tool
@pytest.mark.parametrize(
    'config', [UPGRADE, UPGRADE_PAPER], ids=['dets-balanced', 'paper'])
def test_upgrade_configs(config):
    cfg = Config.fromfile(config)
    hooks = [h['type'] for h in cfg.custom_hooks]
    assert hooks == [
        'mmdet_msrcnn.RNGStateHook', 'mmdet_msrcnn.FreezeDetectorHook'
    ]
    assert cfg.train_cfg.max_epochs == 4
    assert cfg.optim_wrapper.optimizer.type == 'AdamW'
    assert cfg.optim_wrapper.optimizer.lr == 1e-3
    assert [s['type'] for s in cfg.param_scheduler] == ['LinearLR']
    assert cfg.find_unused_parameters and cfg.load_from is None
    detections = cfg.model.roi_head.get('mask_iou_detections')
    assert (detections is not None) == (config == UPGRADE)
    configure_scorer_upgrade(cfg, 'det.pth', epochs=2)
    assert cfg.custom_hooks[1]['checkpoint'] == 'det.pth'
    assert cfg.train_cfg.max_epochs == 2 and cfg.train_cfg.val_interval == 2
    assert cfg.default_hooks.checkpoint.interval == 2


def test_configure_adds_the_hook_and_clears_load_from():
    cfg = Config.fromfile(
        osp.join(REPO_ROOT, 'configs/demo/ms-rcnn_r18_fpn_shapes.py'))
    cfg.load_from = 'other.pth'
    configure_scorer_upgrade(cfg, 'det.pth')
    assert cfg.custom_hooks[-1] == dict(
        type='mmdet_msrcnn.FreezeDetectorHook', checkpoint='det.pth')
    assert cfg.load_from is None
    assert cfg.train_cfg.max_epochs == 12


def test_upgrade_tool_trains_only_the_scorer(shapes_root, tmp_path, mask_rcnn,
                                             mask_rcnn_checkpoint,
                                             monkeypatch):
    """One epoch of 8 images in batches of 4 (2 iterations), resumed for a
    second."""
    tiny = runner_cfg(shapes_root, tmp_path / 'unused', batch_size=4)
    cfg = without_yapf(Config.fromfile(UPGRADE))
    cfg.train_dataloader = tiny.train_dataloader
    for key in ('val_dataloader', 'val_cfg', 'val_evaluator',
                'test_dataloader', 'test_cfg', 'test_evaluator'):
        cfg[key] = None
    for key in ('visualizer', 'env_cfg', 'log_level', 'experiment_name'):
        cfg[key] = tiny[key]
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
    config = str(tmp_path / 'upgrade.py')
    cfg.dump(config)

    tool = load_tool('tools/upgrade_scoring.py')
    train_tool = load_tool('tools/train.py')

    class FastConfig(Config):

        @staticmethod
        def fromfile(*args, **kwargs):
            return without_yapf(Config.fromfile(*args, **kwargs))

    monkeypatch.setattr(train_tool, 'Config', FastConfig)
    monkeypatch.setattr(tool, '_train_tool', lambda: train_tool)
    monkeypatch.setenv('LOCAL_RANK', '0')
    work_dir = tmp_path / 'work'
    runner = tool.main([
        config, mask_rcnn_checkpoint, '--epochs', '1', '--work-dir',
        str(work_dir)
    ])
    # a new training: the checkpoint's epoch 12 is not resumed
    assert runner.train_loop.epoch == 1 and runner.train_loop.iter == 2
    ckpt = torch.load(work_dir / 'epoch_1.pth', weights_only=True)
    assert ckpt['meta']['epoch'] == 1
    state = ckpt['state_dict']
    plain = mask_rcnn.state_dict()
    # frozen weights and BatchNorm statistics exactly the detector's
    for key, value in state.items():
        if not is_scorer(key):
            assert torch.equal(value, plain[key]), key
    # the optimizer stepped the scorer's tensors only
    trainable = sum(1 for k in state if is_scorer(k))
    assert len(ckpt['optimizer']['state']) == trainable == 14
    logged = runner.message_hub.log_scalars
    assert 'train/loss_mask_iou' in logged
    assert 'train/loss_mask_iou_dets' in logged
    # --resume continues the upgrade from its own checkpoint (epoch 1); the
    # detector checkpoint is not loaded again
    loads = []
    monkeypatch.setattr(freeze_detector_hook, 'load_detector_checkpoint',
                        lambda *args, **kwargs: loads.append(args))
    runner = tool.main([
        config, mask_rcnn_checkpoint, '--epochs', '2', '--work-dir',
        str(work_dir), '--resume'
    ])
    assert runner.train_loop.epoch == 2 and runner.train_loop.iter == 4
    assert loads == []
    resumed = torch.load(work_dir / 'epoch_2.pth', weights_only=True)
    for key, value in resumed['state_dict'].items():
        if is_scorer(key):
            assert not torch.equal(value, state[key]), key
        else:
            assert torch.equal(value, plain[key]), key
