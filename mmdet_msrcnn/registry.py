"""Registries of the ``mmdet_msrcnn`` scope.

Each is a child of the matching mmdet registry, so a config may name our
classes with the scope prefix (``type='mmdet_msrcnn.MaskIoUHead'``) while
every bare name still resolves to mmdet's own class. Nothing registered here
shadows mmdet: ``mmdet.registry.MODELS.get('MaskIoUHead')`` stays mmdet's.

Each ``locations`` entry is the subpackage that registers the classes, so
a lookup imports it. This module imports nothing of ``mmdet_msrcnn``
(``tests/test_walls.py`` checks it): every subpackage may import it.
"""
from mmdet.registry import DATASETS as MMDET_DATASETS
from mmdet.registry import HOOKS as MMDET_HOOKS
from mmdet.registry import METRICS as MMDET_METRICS
from mmdet.registry import MODELS as MMDET_MODELS
from mmdet.registry import VISUALIZERS as MMDET_VISUALIZERS
from mmengine.registry import Registry

MODELS = Registry(
    'model',
    parent=MMDET_MODELS,
    scope='mmdet_msrcnn',
    locations=['mmdet_msrcnn.models'])
METRICS = Registry(
    'metric',
    parent=MMDET_METRICS,
    scope='mmdet_msrcnn',
    locations=['mmdet_msrcnn.evaluation'])
DATASETS = Registry(
    'dataset',
    parent=MMDET_DATASETS,
    scope='mmdet_msrcnn',
    locations=['mmdet_msrcnn.datasets'])
HOOKS = Registry(
    'hook',
    parent=MMDET_HOOKS,
    scope='mmdet_msrcnn',
    locations=['mmdet_msrcnn.engine'])
VISUALIZERS = Registry(
    'visualizer',
    parent=MMDET_VISUALIZERS,
    scope='mmdet_msrcnn',
    locations=['mmdet_msrcnn.visualization'])
