from .mask_scoring_mixin import (MaskScoringMixin, record_mask_head,
                                 select_class_masks)
from .mask_scoring_roi_heads import (CascadeMaskScoringRoIHead,
                                     HTCMaskScoringRoIHead,
                                     MaskScoringRoIHead,
                                     PointRendMaskScoringRoIHead)

__all__ = [
    'MaskScoringMixin', 'MaskScoringRoIHead', 'CascadeMaskScoringRoIHead',
    'HTCMaskScoringRoIHead', 'PointRendMaskScoringRoIHead',
    'record_mask_head', 'select_class_masks'
]
