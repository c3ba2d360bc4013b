"""tools/demo.py --epochs: a shortened schedule keeps its LR steps."""
import os.path as osp
from argparse import Namespace

import pytest

from helpers import REPO_ROOT, load_tool

MS_CONFIG = osp.join(REPO_ROOT, 'configs', 'demo', 'ms-rcnn_r18_fpn_shapes.py')


def _demo():
    return load_tool('tools/demo.py')


def _args(tmp_path, epochs):
    return Namespace(
        work_dir=str(tmp_path), data_root=str(tmp_path / 'shapes'),
        epochs=epochs, seed=3, num_vis=0)


def _multistep(cfg):
    return [s for s in cfg.param_scheduler if s.type == 'MultiStepLR'][0]


def test_epochs_override_scales_milestones(tmp_path):
    demo = _demo()
    full = demo.build_cfg(MS_CONFIG, _args(tmp_path, None))
    # the shipped 12-epoch schedule steps the learning rate at 9 and 11
    assert full.train_cfg.max_epochs == 12
    assert _multistep(full).milestones == [9, 11]

    short = demo.build_cfg(MS_CONFIG, _args(tmp_path, 6))
    step = _multistep(short)
    assert short.train_cfg.max_epochs == 6
    assert short.default_hooks.checkpoint.interval == 6
    # 9 * 6 / 12 = 4.5 -> 4, 11 * 6 / 12 = 5.5 -> 5: both steps still happen
    assert step.milestones == [4, 5]
    assert step.end == 6
    # the iteration-based warm-up is untouched
    warm = [s for s in short.param_scheduler if s.type == 'LinearLR'][0]
    assert (warm.by_epoch, warm.end) == (False, 200)
    assert short.randomness == dict(seed=3)


def test_epochs_override_never_gives_a_zero_milestone(tmp_path):
    cfg = _demo().build_cfg(MS_CONFIG, _args(tmp_path, 1))
    assert _multistep(cfg).milestones == [1, 1]


def test_epochs_must_be_positive(tmp_path):
    demo = _demo()
    cfg = demo.build_cfg(MS_CONFIG, _args(tmp_path, None))
    with pytest.raises(ValueError, match='--epochs must be >= 1'):
        demo.scale_schedule(cfg, 0)
