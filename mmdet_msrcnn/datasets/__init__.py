from .checked_coco import (INVALID_MASK_MODES, CheckedCOCO, CheckedCocoDataset,
                           InvalidAnnotationWarning)

__all__ = [
    'CheckedCOCO', 'CheckedCocoDataset', 'INVALID_MASK_MODES',
    'InvalidAnnotationWarning'
]
