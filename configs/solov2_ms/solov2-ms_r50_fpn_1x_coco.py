# SOLOv2 with mask scoring, ResNet-50 FPN, 1x schedule.
# Baseline: mmdet::solov2/solov2_r50_fpn_1x_coco.py
# Only the scoring is added: a DetectionMaskScorer reads each final mask at
# its tight box (SOLOv2's results carry no boxes) on the FPN levels of
# strides 4 to 32, with the mask resampled on the box's 28 x 28 grid, and is
# trained on the model's own detections of each batch (no gradient into the
# detector).
# `scores` stays SOLOv2's: classification score x maskness, decayed by
# Matrix NMS; `mask_scores` = scores x predicted MaskIoU.
_base_ = [
    'mmdet::solov2/solov2_r50_fpn_1x_coco.py',
    '../_base_/mmdet_msrcnn_imports.py', '../_base_/mask_iou_head.py'
]

model = dict(
    type='mmdet_msrcnn.MaskScoringSOLOv2',
    mask_scorer=dict(
        type='mmdet_msrcnn.DetectionMaskScorer',
        featmap_strides=[4, 8, 16, 32],
        in_channels=256,
        mask_iou_head={{_base_.msrcnn_mask_iou_head}}))
