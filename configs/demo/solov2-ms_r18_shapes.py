# Demo: SOLOv2 with mask scoring, identical to solov2_r18_shapes.py except
# for the mask scorer (sized to the slim demo features). `scores` stays
# SOLOv2's classification score x maskness after Matrix NMS; `mask_scores`
# = scores x predicted MaskIoU.
_base_ = './solov2_r18_shapes.py'

model = dict(
    type='mmdet_msrcnn.MaskScoringSOLOv2',
    mask_scorer={{_base_.slim_mask_scorer}})
