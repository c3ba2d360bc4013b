"""Shared test set-up: mmdet's registries in the default scope, tiny models."""
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
