from .mask_iou_head import INPUT_MODES, TARGET_MODES, MaskIoUHead

__all__ = ['MaskIoUHead', 'INPUT_MODES', 'TARGET_MODES']
