"""Mask scoring RoI heads: mmdet's RoI heads with the mixin in front.

Each class is the host RoI head plus :class:`MaskScoringMixin`; none holds
detector-specific scoring code. To score another mmdet RoI head with a mask
branch, declare the same one-liner for it.
"""
from mmdet.models.roi_heads import (CascadeRoIHead, HybridTaskCascadeRoIHead,
                                    PointRendRoIHead, StandardRoIHead)

from mmdet_msrcnn.registry import MODELS
from .mask_scoring_mixin import MaskScoringMixin


@MODELS.register_module()
class MaskScoringRoIHead(MaskScoringMixin, StandardRoIHead):
    """Mask Scoring R-CNN RoI head (Mask R-CNN + MaskIoU head).

    Args:
        mask_iou_head (dict): Config of
            :class:`~mmdet_msrcnn.models.mask_heads.MaskIoUHead`.
        **kwargs: :class:`MaskScoringMixin` options and
            ``StandardRoIHead`` arguments.
    """


@MODELS.register_module()
class CascadeMaskScoringRoIHead(MaskScoringMixin, CascadeRoIHead):
    """Cascade Mask R-CNN RoI head with mask scoring.

    The MaskIoU head trains at the stages in ``mask_iou_stages`` (last by
    default; one shared head or one per stage) with the cascade's
    ``stage_loss_weights`` times ``mask_iou_loss_weights``, and at test time
    scores the final mask, the mean of all stages' mask probabilities, on
    the last stage's mask feature.
    """


@MODELS.register_module()
class HTCMaskScoringRoIHead(MaskScoringMixin, HybridTaskCascadeRoIHead):
    """Hybrid Task Cascade RoI head with mask scoring.

    As :class:`CascadeMaskScoringRoIHead`; the MaskIoU head sees the mask
    feature after the semantic fusion, when HTC has a semantic branch.
    """


@MODELS.register_module()
class PointRendMaskScoringRoIHead(MaskScoringMixin, PointRendRoIHead):
    """PointRend RoI head with mask scoring.

    Training regresses the IoU of the coarse mask (the coarse head's
    ``mask_size``, 7x7 in mmdet's configs, upsampled to the RoI feature
    size at the head's input). At test time the head scores the
    point-refined mask (the coarse side times
    ``scale_factor**subdivision_steps`` pixels a side: 7 * 2**5 = 224 with
    mmdet's configs), adaptively max-pooled to the RoI feature size.
    """
