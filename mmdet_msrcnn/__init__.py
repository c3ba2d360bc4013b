"""Mask Scoring R-CNN for MMDetection 3.x.

Importing the package registers our classes in the ``mmdet_msrcnn`` scope
(see :mod:`mmdet_msrcnn.registry`) and nothing in mmdet's own scope. It
changes no process-wide state: torch's weights-only allowlist is extended
only on explicit opt-in (:mod:`mmdet_msrcnn.utils.allow_runner_checkpoints`
in a config's ``custom_imports``, or :mod:`mmdet_msrcnn.utils.safe_checkpoint`
in code). The synthetic data generator is :mod:`mmdet_msrcnn.synthetic`.
"""
from .version import __version__  # noqa: F401
from .registry import DATASETS, HOOKS, METRICS  # noqa: F401
from .registry import MODELS, VISUALIZERS  # noqa: F401
from .models import *  # noqa: F401,F403
from .evaluation import *  # noqa: F401,F403
from .datasets import *  # noqa: F401,F403
from .visualization import *  # noqa: F401,F403
from .engine import *  # noqa: F401,F403
