"""Interrupted + resumed training matches an uninterrupted run (bullet 5).

Two kinds of check:

* :func:`test_resume_matches_uninterrupted`: the resume path of
  ``tools/train.py --resume`` (``resume=True``, ``load_from=None``: the
  latest checkpoint of the work dir) under torch's default weights-only
  unpickler, against the session's uninterrupted run (``trained_run``).
  Both runs reseed every iteration (``ReseedHook``): this one checks the
  tool's path and the weights, optimizer and scheduler states.
* The exact-resume tests, with no reseeding at all: the demo configs'
  ``mmdet_msrcnn.RNGStateHook`` saves the random-number states in every
  checkpoint and sets them again on resume, so 1 epoch + resume equals 2
  epochs straight (and 2 + 2 iterations equal 4) to float tolerance
  (``torch.testing.assert_close`` with ``rtol=1e-6, atol=1e-7``; on this
  CPU the runs are bitwise equal). Without the hook the same comparison
  differs from the first resumed step (the ``without_hook`` test). The
  training pipeline has the demo's ``RandomFlip`` (numpy's generator) on
  top of the RoI samplers (torch's), with ``num_workers=0``.
"""
import os
import os.path as osp
import random
import sys
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.runner import EpochBasedTrainLoop, IterBasedTrainLoop

from helpers import REPO_ROOT, load_tool
from mmdet_msrcnn.engine import RNGStateHook, get_rng_state, set_rng_state
from mmdet_msrcnn.engine.hooks import rng_state_hook
from mmdet_msrcnn.utils import runner_checkpoint_types_allowed
from training_utils import (epoch_runner_cfg, runner_cfg, train_runner,
                               without_yapf)

# one intra-op thread, as every test that runs a training (tests/conftest.py)
pytestmark = pytest.mark.usefixtures('one_thread')

#: "Float tolerance" of the exact-resume comparisons.
TOL = dict(rtol=1e-6, atol=1e-7)

HOOK = dict(type='mmdet_msrcnn.RNGStateHook')


def repo_tool(name):
    """Import ``tools/<name>.py`` as a module."""
    return load_tool(f'tools/{name}.py')


def assert_close(a, b, path='state'):
    """Recursive allclose over checkpoint contents."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor), path
        assert a.shape == b.shape, path
        assert torch.allclose(
            a.double(), b.double(), rtol=1e-4, atol=1e-6), path
    elif isinstance(a, dict):
        assert set(a) == set(b), path
        for key in a:
            assert_close(a[key], b[key], f'{path}.{key}')
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            assert_close(x, y, f'{path}[{i}]')
    elif isinstance(a, float):
        assert a == pytest.approx(b, rel=1e-5, abs=1e-8), path
    else:
        assert a == b, path


def test_resume_matches_uninterrupted(trained_run, shapes_root, tmp_path,
                                      monkeypatch):
    assert 'TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD' not in os.environ
    work_dir = tmp_path / 'interrupted'
    # same config, killed after iteration 2 (its checkpoint is written)
    _, first = train_runner(runner_cfg(shapes_root, work_dir), stop_iter=2)
    assert [r['iter'] for r in first] == [1, 2]
    assert sorted(os.listdir(work_dir)).count('iter_2.pth') == 1
    assert not (work_dir / 'iter_4.pth').exists()

    # resume the way tools/train.py --resume does
    config_file = str(tmp_path / 'tiny.py')
    runner_cfg(shapes_root, work_dir).dump(config_file)
    train_tool = repo_tool('train')
    monkeypatch.setenv('LOCAL_RANK', '0')
    monkeypatch.setattr(
        sys, 'argv',
        ['train.py', config_file, '--work-dir',
         str(work_dir), '--resume'])
    cfg = without_yapf(train_tool.build_config(train_tool.parse_args()))
    assert cfg.resume is True and cfg.load_from is None
    runner, second = train_runner(cfg)

    reference = trained_run['records']
    assert runner.iter == trained_run['iter'] == 4
    assert [r['iter'] for r in second] == [3, 4]
    # first half identical too (same seed, same data order)
    for got, want in zip(first, reference[:2]):
        assert got['loss'] == pytest.approx(want['loss'], rel=1e-5)
    last, ref_last = second[-1], reference[-1]
    assert last['lr'] == pytest.approx(ref_last['lr'], rel=1e-6)
    assert last['loss'] == pytest.approx(ref_last['loss'], rel=1e-4)
    assert last['loss_mask_iou'] == pytest.approx(
        ref_last['loss_mask_iou'], rel=1e-4, abs=1e-7)

    # final checkpoints: weights, optimizer, scheduler (weights-only load)
    mine = torch.load(work_dir / 'iter_4.pth', weights_only=True)
    ref = torch.load(trained_run['checkpoint'], weights_only=True)
    assert mine['meta']['iter'] == ref['meta']['iter'] == 4
    assert_close(mine['state_dict'], ref['state_dict'], 'state_dict')
    assert_close(mine['optimizer'], ref['optimizer'], 'optimizer')
    assert_close(mine['param_schedulers'], ref['param_schedulers'],
                 'param_schedulers')
    assert mine['optimizer']['state'], 'optimizer state was not saved'


# --------------------------------------------------------------------------
# exact resume: no reseeding, RNGStateHook from the config


def as_tensors(records):
    """Per-iteration records -> {key: float64 tensor over iterations}."""
    return {
        key: torch.tensor([r[key] for r in records], dtype=torch.float64)
        for key in records[0]
    }


def assert_identical(a, b, path='state'):
    """Recursive equality; tensors bitwise (RNG states)."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and torch.equal(a, b), path
    elif isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), path
        for key in a:
            assert_identical(a[key], b[key], f'{path}.{key}')
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            assert_identical(x, y, f'{path}[{i}]')
    else:
        assert a == b, path


def load(path):
    """A runner checkpoint, weights-only (runner types opted in)."""
    with runner_checkpoint_types_allowed():
        return torch.load(path, map_location='cpu', weights_only=True)


def assert_same_training_state(mine, ref, **tol):
    """Weights, optimizer state and scheduler state equal within ``tol``."""
    torch.testing.assert_close(mine['state_dict'], ref['state_dict'], **tol)
    torch.testing.assert_close(mine['optimizer']['state'],
                               ref['optimizer']['state'], **tol)
    assert_close(mine['optimizer']['param_groups'],
                 ref['optimizer']['param_groups'], 'param_groups')
    assert_close(mine['param_schedulers'], ref['param_schedulers'],
                 'param_schedulers')


def max_weight_difference(mine, ref):
    """The largest absolute difference of two state dicts."""
    return max(
        (mine[k].double() - ref[k].double()).abs().max().item() for k in ref)


def interrupted_and_resumed(make_cfg, work_dir, **stop):
    """Train until ``stop``, then resume in a new runner (``resume=True``).

    Args:
        make_cfg (callable): ``work_dir -> Config``.
        work_dir (str): The shared work dir of both runners.
        **stop: ``stop_iter`` or ``stop_epoch`` of :func:`train_runner`.

    Returns:
        tuple[list, list]: Records before and after the interruption.
    """
    _, first = train_runner(make_cfg(work_dir), reseed=False, **stop)
    cfg = make_cfg(work_dir)
    cfg.resume = True
    _, second = train_runner(cfg, reseed=False)
    return first, second


@pytest.fixture(scope='module')
def epoch_runs(shapes_root, tmp_path_factory):
    """2 epochs straight, and 1 epoch + resume (2 iterations per epoch).

    The config is the demo's, so :class:`RNGStateHook` comes from
    ``custom_hooks``; no hook reseeds the generators.
    """
    root = tmp_path_factory.mktemp('epoch_runs')

    def make_cfg(work_dir):
        cfg = epoch_runner_cfg(shapes_root, work_dir)
        assert cfg.custom_hooks == [HOOK]
        return cfg

    _, straight = train_runner(make_cfg(root / 'straight'), reseed=False)
    first, second = interrupted_and_resumed(
        make_cfg, root / 'interrupted', stop_epoch=1)
    return dict(
        straight=straight,
        first=first,
        second=second,
        straight_dir=str(root / 'straight'),
        interrupted_dir=str(root / 'interrupted'))


def test_epoch_resume_is_exact(epoch_runs):
    straight = epoch_runs['straight']
    first, second = epoch_runs['first'], epoch_runs['second']
    assert [r['iter'] for r in straight] == [1, 2, 3, 4]
    assert [r['iter'] for r in first] == [1, 2]
    assert [r['iter'] for r in second] == [3, 4]
    # every logged loss term and the learning rate of every step
    torch.testing.assert_close(
        as_tensors(first + second), as_tensors(straight), **TOL)
    mine = load(osp.join(epoch_runs['interrupted_dir'], 'epoch_2.pth'))
    ref = load(osp.join(epoch_runs['straight_dir'], 'epoch_2.pth'))
    assert mine['meta']['epoch'] == ref['meta']['epoch'] == 2
    assert_same_training_state(mine, ref, **TOL)
    # the next random numbers too: the states saved after epoch 2 agree
    assert_identical(mine['meta']['rng_state'], ref['meta']['rng_state'])


def test_resume_without_hook_differs(epoch_runs, shapes_root, tmp_path):
    """The evidence: the same comparison without RNGStateHook fails.

    The uninterrupted reference is the hooked straight run of
    ``epoch_runs``: without validation the hook draws nothing and changes
    nothing but the checkpoint's meta, so an unhooked straight run is the
    same run (its first epoch is checked against ours below).
    """

    def make_cfg(work_dir):
        cfg = epoch_runner_cfg(shapes_root, work_dir)
        cfg.custom_hooks = []
        return cfg

    first, second = interrupted_and_resumed(
        make_cfg, tmp_path / 'interrupted', stop_epoch=1)
    straight = as_tensors(epoch_runs['straight'])
    torch.testing.assert_close(
        as_tensors(first), as_tensors(epoch_runs['straight'][:2]), **TOL)
    got = as_tensors(second)
    # the first resumed step already differs (measured: 0.084 of 3.46)
    assert abs(got['loss'][0] - straight['loss'][2]) > 1e-3
    with pytest.raises(AssertionError):
        torch.testing.assert_close(got, as_tensors(epoch_runs['straight'][2:]),
                                   **TOL)
    mine = load(tmp_path / 'interrupted' / 'epoch_2.pth')
    ref = load(osp.join(epoch_runs['straight_dir'], 'epoch_2.pth'))
    assert 'rng_state' not in mine['meta']
    # measured: up to 0.085
    assert max_weight_difference(mine['state_dict'], ref['state_dict']) > 1e-3


def test_iter_resume_is_exact(shapes_root, tmp_path):
    """Iteration-based: the states are set after skipping trained batches.

    ``IterBasedTrainLoop`` skips the 2 trained batches on resume; their
    random flips draw from numpy's generator, so the hook sets the states
    right before the third batch. (Set before the skipping, the resumed
    steps differed by up to 0.22 in the loss.)
    """

    def make_cfg(work_dir):
        cfg = runner_cfg(shapes_root, work_dir)
        cfg.train_dataloader.dataset.pipeline.insert(
            -1, dict(type='RandomFlip', prob=0.5))
        assert cfg.custom_hooks == [HOOK]
        return cfg

    _, straight = train_runner(make_cfg(tmp_path / 'straight'), reseed=False)
    first, second = interrupted_and_resumed(
        make_cfg, tmp_path / 'interrupted', stop_iter=2)
    assert [r['iter'] for r in first + second] == [1, 2, 3, 4]
    torch.testing.assert_close(
        as_tensors(first + second), as_tensors(straight), **TOL)
    assert_same_training_state(
        load(tmp_path / 'interrupted' / 'iter_4.pth'),
        load(tmp_path / 'straight' / 'iter_4.pth'), **TOL)


def test_checkpoint_with_rng_state_loads_weights_only(epoch_runs, tmp_path):
    path = osp.join(epoch_runs['interrupted_dir'], 'epoch_1.pth')
    with runner_checkpoint_types_allowed():
        ckpt = torch.load(path, weights_only=True)
    state = ckpt['meta']['rng_state']
    assert state['format'] == 1
    assert state['python']['state'].dtype == torch.int64
    assert state['python']['state'].shape == (625, )
    assert state['numpy']['kind'] == 'MT19937'
    assert state['numpy']['key'].shape == (624, )
    assert state['torch'].dtype == torch.uint8
    assert state['cuda'] == []
    assert state['sampler_seed'] == 0 and state['world_size'] == 1
    # the state itself needs no allowlist entry at all
    alone = str(tmp_path / 'rng_state.pth')
    torch.save(state, alone)
    ser = torch.serialization
    before = ser.get_safe_globals()
    ser.clear_safe_globals()
    try:
        loaded = torch.load(alone, weights_only=True)
    finally:
        ser.clear_safe_globals()
        ser.add_safe_globals(before)
    assert_identical(loaded, state)


@pytest.mark.parametrize('config', [
    'configs/demo/mask-rcnn_r18_fpn_shapes.py',
    'configs/nuclei/mask-rcnn_r18_fpn_nuclei.py',
    'configs/ablation/ms-rcnn_r18_fpn_shapes_tau-0.5.py'
])
def test_configs_enable_the_hook(config):
    cfg = Config.fromfile(osp.join(REPO_ROOT, config))
    assert HOOK in cfg.custom_hooks
    fragment = Config.fromfile(
        osp.join(REPO_ROOT, 'configs/_base_/exact_resume.py'))
    assert fragment.custom_hooks == [HOOK]


# --------------------------------------------------------------------------
# the hook's parts, without training


def draws():
    """One draw from each global generator (numpy's gauss cache too)."""
    return (random.random(), random.gauss(0, 1), np.random.rand(3),
            np.random.randn(1), torch.rand(3))


def assert_same_draws(a, b):
    assert a[:2] == b[:2]
    for x, y in zip(a[2:], b[2:]):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


class FakeLoader:
    """A train dataloader: a batch sampler's seeded sampler and a length."""

    def __init__(self, sampler_seed, per_epoch):
        self.batch_sampler = SimpleNamespace(
            sampler=SimpleNamespace(seed=sampler_seed))
        self.sampler = None
        self.per_epoch = per_epoch

    def __len__(self):
        return self.per_epoch


def fake_runner(loop, sampler_seed=0, per_epoch=2):
    """What the hook reads of a runner: the loop, its sampler, the ranks."""
    loop.dataloader = FakeLoader(sampler_seed, per_epoch)
    return SimpleNamespace(train_loop=loop, world_size=1, rank=0)


def make_loop(cls, epoch, iteration):
    """An un-run loop of class ``cls`` at ``epoch`` / ``iteration``."""
    loop = cls.__new__(cls)
    loop._epoch, loop._iter = epoch, iteration
    return loop


def saved_checkpoint(hook, runner, epoch, iteration):
    """What ``runner.save_checkpoint`` hands the hook, after the hook."""
    checkpoint = dict(meta=dict(epoch=epoch, iter=iteration))
    hook.before_save_checkpoint(runner, checkpoint)
    return checkpoint


def test_rng_state_round_trip():
    np.random.randn(1)  # numpy caches the second gaussian
    state = get_rng_state()
    want = draws()
    set_rng_state(state)
    assert_same_draws(draws(), want)
    with pytest.raises(ValueError, match='format'):
        set_rng_state(dict(state, format=99))


def test_resume_restores_load_from_does_not():
    hook = RNGStateHook()
    runner = fake_runner(make_loop(EpochBasedTrainLoop, 1, 2))
    checkpoint = saved_checkpoint(hook, runner, epoch=1, iteration=2)
    want = draws()
    # resume: the loop continues at the checkpoint's epoch and iteration
    hook.after_load_checkpoint(runner, checkpoint)
    hook.before_train(runner)
    assert_same_draws(draws(), want)
    # load_from: a fresh loop at 0 keeps its seeded states
    fresh = fake_runner(make_loop(EpochBasedTrainLoop, 0, 0))
    hook.after_load_checkpoint(fresh, checkpoint)
    before = get_rng_state()
    hook.before_train(fresh)
    assert_identical(get_rng_state(), before)


def test_iter_loop_restores_before_the_first_new_batch():
    hook = RNGStateHook()
    loop = make_loop(IterBasedTrainLoop, 0, 2)
    runner = fake_runner(loop)
    checkpoint = saved_checkpoint(hook, runner, epoch=0, iteration=2)
    want = torch.rand(3)

    def batches():  # each batch draws, as a random transform would
        while True:
            yield torch.rand(3)

    iterator = batches()
    loop.dataloader_iterator = iterator
    hook.after_load_checkpoint(runner, checkpoint)
    hook.before_train(runner)
    next(loop.dataloader_iterator), next(loop.dataloader_iterator)  # skip
    torch.testing.assert_close(
        next(loop.dataloader_iterator), want, rtol=0, atol=0)
    assert loop.dataloader_iterator is iterator  # unwrapped again


def test_validation_leaves_training_states_alone():
    hook = RNGStateHook()
    runner = fake_runner(make_loop(EpochBasedTrainLoop, 1, 2))
    state = get_rng_state()
    want = draws()
    set_rng_state(state)
    hook.before_val(runner)
    draws()  # validation draws
    # a checkpoint saved during validation (save_best) stores the training
    # states, not validation's
    best = saved_checkpoint(hook, runner, epoch=1, iteration=2)
    hook.after_val(runner)
    assert_same_draws(draws(), want)
    set_rng_state(best['meta']['rng_state'])
    assert_same_draws(draws(), want)


def test_sampler_seed_and_epoch_boundary(monkeypatch):
    logged = []
    monkeypatch.setattr(rng_state_hook, 'print_log',
                        lambda msg, **kwargs: logged.append(msg))
    hook = RNGStateHook()
    saving = fake_runner(make_loop(EpochBasedTrainLoop, 1, 3), sampler_seed=7)
    checkpoint = saved_checkpoint(hook, saving, epoch=1, iteration=3)
    assert checkpoint['meta']['rng_state']['sampler_seed'] == 7
    # the resumed run drew another sampler seed (randomness.seed=None);
    # iteration 3 of 2 per epoch: saved inside epoch 2
    resumed = fake_runner(
        make_loop(EpochBasedTrainLoop, 1, 3), sampler_seed=123)
    hook.after_load_checkpoint(resumed, checkpoint)
    hook.before_train(resumed)
    assert resumed.train_loop.dataloader.batch_sampler.sampler.seed == 7
    assert len(logged) == 2
    assert 'seeded with 123, the checkpoint with 7' in logged[0]
    assert 'saved inside an epoch' in logged[1]
    # at an epoch end: same seed, nothing to say
    logged.clear()
    at_end = fake_runner(make_loop(EpochBasedTrainLoop, 1, 2), sampler_seed=7)
    hook.after_load_checkpoint(
        at_end, saved_checkpoint(hook, at_end, epoch=1, iteration=2))
    hook.before_train(at_end)
    assert logged == []


def test_resume_from_checkpoint_without_state_warns(monkeypatch):
    logged = []
    monkeypatch.setattr(rng_state_hook, 'print_log',
                        lambda msg, **kwargs: logged.append(msg))
    hook = RNGStateHook()
    runner = fake_runner(make_loop(EpochBasedTrainLoop, 1, 2))
    before = get_rng_state()
    hook.after_load_checkpoint(runner, dict(meta=dict(epoch=1, iter=2)))
    hook.before_train(runner)
    assert len(logged) == 1 and 'no RNG state' in logged[0]
    assert_identical(get_rng_state(), before)
