# Demo: RTMDet-Ins with mask scoring, identical to rtmdet-ins_tiny_shapes.py
# except for the mask scorer (sized to the slim demo features). `scores`
# stays RTMDet-Ins's classification score; `mask_scores` = scores x
# predicted MaskIoU.
_base_ = './rtmdet-ins_tiny_shapes.py'

model = dict(
    type='mmdet_msrcnn.MaskScoringRTMDet',
    mask_scorer={{_base_.slim_mask_scorer}})
