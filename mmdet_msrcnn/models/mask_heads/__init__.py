from .detection_mask_scorer import BOX_SOURCES, DetectionMaskScorer
from .mask_iou_head import INPUT_MODES, TARGET_MODES, MaskIoUHead

__all__ = [
    'MaskIoUHead', 'INPUT_MODES', 'TARGET_MODES', 'DetectionMaskScorer',
    'BOX_SOURCES'
]
