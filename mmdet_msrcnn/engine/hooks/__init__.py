"""Hooks of the ``mmdet_msrcnn`` scope (``type='mmdet_msrcnn.<Hook>'``)."""
from .freeze_detector_hook import FreezeDetectorHook
from .rng_state_hook import RNGStateHook, get_rng_state, set_rng_state

__all__ = [
    'RNGStateHook', 'get_rng_state', 'set_rng_state', 'FreezeDetectorHook'
]
