"""Fixtures of the reliability tests: a tiny shapes set and a trained run."""
import os.path as osp

import pytest
import torch

from reliability_utils import IMG_SIZE, NUM_TRAIN, runner_cfg, train_runner


@pytest.fixture(scope='session')
def shapes_root(tmp_path_factory):
    """A generated shapes set: 8 train / 4 val images of 64 px."""
    from mmdet_msrcnn.synthetic import generate_shapes_dataset
    out = tmp_path_factory.mktemp('shapes')
    return generate_shapes_dataset(
        str(out), num_train=NUM_TRAIN, num_val=4, img_size=IMG_SIZE,
        seed=0)['data_root']


@pytest.fixture(scope='session')
def trained_run(shapes_root, tmp_path_factory):
    """An uninterrupted 4-iteration run (checkpoints at 2 and 4)."""
    work_dir = tmp_path_factory.mktemp('uninterrupted')
    runner, records = train_runner(runner_cfg(shapes_root, work_dir))
    return dict(
        work_dir=str(work_dir),
        records=records,
        iter=runner.iter,
        checkpoint=osp.join(str(work_dir), 'iter_4.pth'))


@pytest.fixture(autouse=True)
def _one_thread():
    """One intra-op thread: the two cores are shared with other jobs."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
