"""Shared test set-up: mmdet's registries in the default scope, tiny models,
and a tiny shapes set with one trained run for the training-run tests."""
import os.path as osp
import sys

import pytest

TESTS_DIR = osp.dirname(osp.abspath(__file__))
REPO_ROOT = osp.dirname(TESTS_DIR)
# tests/helpers.py is importable from every test folder
if TESTS_DIR not in sys.path:
    sys.path.insert(0, TESTS_DIR)


@pytest.fixture(autouse=True, scope='session')
def _mmdet_scope():
    from mmdet.utils import register_all_modules
    register_all_modules(init_default_scope=True)
    import mmdet_msrcnn  # noqa: F401
    from mmengine.logging import MMLogger
    MMLogger.get_instance('mmengine').setLevel('WARNING')
    yield


@pytest.fixture(scope='session')
def shapes_root(tmp_path_factory):
    """A generated shapes set: 8 train / 4 val images of 64 px."""
    from mmdet_msrcnn.synthetic import generate_shapes_dataset
    from training_utils import IMG_SIZE, NUM_TRAIN
    out = tmp_path_factory.mktemp('shapes')
    return generate_shapes_dataset(
        str(out), num_train=NUM_TRAIN, num_val=4, img_size=IMG_SIZE,
        seed=0)['data_root']


@pytest.fixture(scope='session')
def trained_run(shapes_root, tmp_path_factory):
    """An uninterrupted 4-iteration run (checkpoints at 2 and 4)."""
    from training_utils import runner_cfg, train_runner
    work_dir = tmp_path_factory.mktemp('uninterrupted')
    runner, records = train_runner(runner_cfg(shapes_root, work_dir))
    return dict(
        work_dir=str(work_dir),
        records=records,
        iter=runner.iter,
        checkpoint=osp.join(str(work_dir), 'iter_4.pth'))


@pytest.fixture
def one_thread():
    """One intra-op thread: the two cores are shared with other jobs.

    Used by the tests that train runners or compare runs
    (``pytestmark = pytest.mark.usefixtures('one_thread')``).
    """
    import torch
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
