from .image_input import (ImageInputCascadeRCNN, ImageInputHybridTaskCascade,
                          ImageInputMaskRCNN, ImageInputPointRend)
from .mask_scoring_detector import (SCORED_DETECTOR_METHODS,
                                    MaskScoringDetectorMixin, eval_mode)
from .mask_scoring_detectors import (MaskScoringCondInst,
                                     MaskScoringMask2Former, MaskScoringRTMDet,
                                     MaskScoringSOLOv2)

__all__ = [
    'ImageInputMaskRCNN', 'ImageInputCascadeRCNN', 'ImageInputHybridTaskCascade',
    'ImageInputPointRend',
    'MaskScoringDetectorMixin', 'MaskScoringRTMDet', 'MaskScoringSOLOv2',
    'MaskScoringCondInst', 'MaskScoringMask2Former', 'SCORED_DETECTOR_METHODS',
    'eval_mode'
]
