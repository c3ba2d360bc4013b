from .checked_coco import (COORD_MARGIN, INVALID_MASK_MODES,
                           OTHER_CATEGORY_MODES, CheckedCOCO,
                           CheckedCocoDataset, InvalidAnnotationWarning,
                           OtherCategoryWarning)

__all__ = [
    'CheckedCOCO', 'CheckedCocoDataset', 'COORD_MARGIN', 'INVALID_MASK_MODES',
    'OTHER_CATEGORY_MODES', 'InvalidAnnotationWarning', 'OtherCategoryWarning'
]
