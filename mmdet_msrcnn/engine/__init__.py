"""Training-loop helpers: hooks registered in the ``mmdet_msrcnn`` scope.

:class:`~mmdet_msrcnn.engine.hooks.RNGStateHook` saves the random-number
states in every checkpoint and restores them on ``--resume``, so that an
interrupted and resumed training equals an uninterrupted one.
"""
from .hooks import *  # noqa: F401,F403
