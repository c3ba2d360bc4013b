from .mask_scoring_mixin import (SCORED_METHODS, MaskScoringMixin,
                                 select_class_masks)
from .mask_scoring_roi_heads import (CascadeMaskScoringRoIHead,
                                     HTCMaskScoringRoIHead,
                                     MaskScoringRoIHead,
                                     PointRendMaskScoringRoIHead,
                                     QueryInstMaskScoringRoIHead)

__all__ = [
    'MaskScoringMixin', 'MaskScoringRoIHead', 'CascadeMaskScoringRoIHead',
    'HTCMaskScoringRoIHead', 'PointRendMaskScoringRoIHead', 'QueryInstMaskScoringRoIHead',
    'SCORED_METHODS',
    'select_class_masks'
]
