# RTMDet-Ins tiny with mask scoring, mmdet's 300-epoch COCO schedule.
# Baseline: mmdet::rtmdet/rtmdet-ins_tiny_8xb32-300e_coco.py
# Only the scoring is added: a DetectionMaskScorer reads each final detection
# at its box on the neck's levels (strides 8, 16, 32, 96 channels) with its
# mask resampled on the box's 28 x 28 grid, and is trained on the model's
# own detections of each batch (no gradient into the detector).
# `scores` stays RTMDet-Ins's classification score (sigmoid, kept by its
# NMS); `mask_scores` = scores x predicted MaskIoU.
_base_ = [
    'mmdet::rtmdet/rtmdet-ins_tiny_8xb32-300e_coco.py',
    '../_base_/mmdet_msrcnn_imports.py', '../_base_/mask_iou_head.py'
]

model = dict(
    type='mmdet_msrcnn.MaskScoringRTMDet',
    mask_scorer=dict(
        type='mmdet_msrcnn.DetectionMaskScorer',
        featmap_strides=[8, 16, 32],
        in_channels=96,
        mask_iou_head=dict(_base_.msrcnn_mask_iou_head, in_channels=96)))
