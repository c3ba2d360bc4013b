"""Mask Scoring R-CNN for MMDetection 3.x.

Importing the package registers our classes in the ``mmdet_msrcnn`` scope
(see :mod:`mmdet_msrcnn.registry`) and nothing in mmdet's own scope.
"""
from .version import __version__  # noqa: F401
from .registry import (DATASETS, HOOKS, METRICS, MODELS,  # noqa: F401
                       VISUALIZERS)
from .models import *  # noqa: F401,F403
from .evaluation import *  # noqa: F401,F403
from .datasets import *  # noqa: F401,F403
from .visualization import *  # noqa: F401,F403
from .utils import allow_runner_checkpoint_types

# mmengine runner checkpoints load under torch's weights-only unpickler
allow_runner_checkpoint_types()
