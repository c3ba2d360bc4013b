# QueryInst with mask scoring, ResNet-50 FPN, 1x schedule.
# Mask R-CNN-family baseline: mmdet::queryinst/queryinst_r50_fpn_1x_coco.py
# Only the scoring is added: one MaskIoU head, trained on the last of the six
# stages' positive queries, scores each detection on its own query's mask
# RoI feature. `scores` stays QueryInst's classification score;
# `mask_scores` = scores x predicted MaskIoU.
_base_ = 'mmdet::queryinst/queryinst_r50_fpn_1x_coco.py'
# the second import opts in to loading runner checkpoints (message hub,
# numpy values) under torch's weights-only unpickler
custom_imports = dict(
    imports=['mmdet_msrcnn', 'mmdet_msrcnn.utils.allow_runner_checkpoints'],
    allow_failed_imports=False)

model = dict(
    roi_head=dict(
        type='mmdet_msrcnn.QueryInstMaskScoringRoIHead',
        mask_iou_head=dict(
            type='mmdet_msrcnn.MaskIoUHead',
            num_classes=80,
            roi_feat_size=14,
            mask_size=28,
            in_channels=256)))
