# CondInst with mask scoring, ResNet-50 FPN, 90k iterations, multi-scale.
# Baseline: mmdet::condinst/condinst_r50_fpn_ms-poly-90k_coco_instance.py
# Only the scoring is added: a DetectionMaskScorer reads each final detection
# at its box on the FPN levels P3-P6 (strides 8 to 64) with its mask
# resampled on the box's 28 x 28 grid, and is trained on the model's own
# detections of each batch (no gradient into the detector).
# `scores` stays CondInst's: classification score x centerness (its
# FCOS-style box head), kept by NMS; `mask_scores` = scores x predicted
# MaskIoU.
_base_ = [
    'mmdet::condinst/condinst_r50_fpn_ms-poly-90k_coco_instance.py',
    '../_base_/mmdet_msrcnn_imports.py', '../_base_/mask_iou_head.py'
]

model = dict(
    type='mmdet_msrcnn.MaskScoringCondInst',
    mask_scorer=dict(
        type='mmdet_msrcnn.DetectionMaskScorer',
        featmap_strides=[8, 16, 32, 64],
        in_channels=256,
        mask_iou_head={{_base_.msrcnn_mask_iou_head}}))
