"""Helpers: CPU distributed setup, checkpoint conversion and safe loading.

Importing this package changes no global state; the weights-only opt-in
module :mod:`.allow_runner_checkpoints` is imported only where it is named.
"""
from .dist import setup_cpu_distributed
from .convert import (CheckpointConversionError,
                      convert_mmdet_ms_rcnn_checkpoint,
                      convert_mmdet_ms_rcnn_state_dict, mask_iou_head_keys)
from .safe_checkpoint import (allow_runner_checkpoint_types,
                              load_checkpoint_safely, refuse_unsafe_checkpoint,
                              runner_checkpoint_types,
                              runner_checkpoint_types_allowed)

__all__ = [
    'setup_cpu_distributed', 'allow_runner_checkpoint_types',
    'load_checkpoint_safely', 'refuse_unsafe_checkpoint',
    'runner_checkpoint_types', 'runner_checkpoint_types_allowed',
    'CheckpointConversionError', 'convert_mmdet_ms_rcnn_checkpoint',
    'convert_mmdet_ms_rcnn_state_dict', 'mask_iou_head_keys'
]
