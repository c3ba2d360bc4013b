# QueryInst with mask scoring, ResNet-50 FPN, 1x schedule.
# Mask R-CNN-family baseline: mmdet::queryinst/queryinst_r50_fpn_1x_coco.py
# Only the scoring is added: one MaskIoU head, trained on the last of the six
# stages' positive queries, scores each detection on its own query's mask
# RoI feature. `scores` stays QueryInst's classification score;
# `mask_scores` = scores x predicted MaskIoU.
_base_ = [
    'mmdet::queryinst/queryinst_r50_fpn_1x_coco.py',
    '../_base_/mmdet_msrcnn_imports.py', '../_base_/exact_resume.py', '../_base_/mask_iou_head.py'
]

model = dict(
    roi_head=dict(
        type='mmdet_msrcnn.QueryInstMaskScoringRoIHead',
        mask_iou_head={{_base_.msrcnn_mask_iou_head}}))
