"""Interrupted + resumed training matches an uninterrupted run (bullet 5).

The uninterrupted run (``trained_run``, 4 iterations) and a run with the
same config that crashes after iteration 2 (right after its checkpoint) are
compared after the second is resumed the way ``tools/train.py --resume``
does it (``resume=True``, ``load_from=None``: the latest checkpoint of the
work dir), under torch's default weights-only unpickler.
"""
import os
import sys

import pytest
import torch

from helpers import load_tool
from reliability_utils import runner_cfg, train_runner, without_yapf


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
