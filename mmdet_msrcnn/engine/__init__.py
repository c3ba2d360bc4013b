"""Training-loop helpers: hooks registered in the ``mmdet_msrcnn`` scope.

:class:`~mmdet_msrcnn.engine.hooks.RNGStateHook` saves the random-number
states in every checkpoint and restores them on ``--resume``, so that an
interrupted and resumed training equals an uninterrupted one.

Adding scoring to a trained detector (``tools/upgrade_scoring.py``):
:func:`load_detector_checkpoint` loads a plain detector checkpoint into the
scored model (only the scorer's keys may be missing),
:func:`freeze_detector` freezes everything but the scorer, and
:class:`~mmdet_msrcnn.engine.hooks.FreezeDetectorHook` does both in a run
and keeps the frozen modules in eval mode.
"""
from .detector_checkpoint import (DetectorCheckpointError, DetectorLoadReport,
                                  load_detector_checkpoint)
from .freeze import (FreezeSummary, default_scorer_prefixes, freeze_detector,
                     frozen_modules, set_frozen_eval)
from .hooks import *  # noqa: F401,F403
from .hooks import __all__ as _hooks_all
from .scorer_upgrade import configure_scorer_upgrade

__all__ = list(_hooks_all) + [
    'DetectorCheckpointError', 'DetectorLoadReport',
    'load_detector_checkpoint', 'FreezeSummary', 'default_scorer_prefixes',
    'freeze_detector', 'frozen_modules', 'set_frozen_eval',
    'configure_scorer_upgrade'
]
