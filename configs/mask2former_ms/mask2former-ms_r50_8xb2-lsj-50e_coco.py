# Mask2Former (instance segmentation) with mask scoring, ResNet-50, LSJ,
# 50 epochs.
# Baseline: mmdet::mask2former/mask2former_r50_8xb2-lsj-50e_coco.py
# Only the scoring is added: a DetectionMaskScorer reads each final instance
# at its box (the mask's tight box, as Mask2Former gives it) on the backbone
# levels the pixel decoder takes (strides 4 to 32; 1x1 laterals bring their
# 256 / 512 / 1024 / 2048 channels to 256), with the mask resampled on the
# box's 28 x 28 grid, and is trained on the model's own instances of each
# batch (no gradient into the detector). Instance segmentation only:
# panoptic / semantic configs are refused.
# `scores` stays Mask2Former's: softmax classification score x mean mask
# probability over the binarised mask; `mask_scores` = scores x predicted
# MaskIoU.
_base_ = [
    'mmdet::mask2former/mask2former_r50_8xb2-lsj-50e_coco.py',
    '../_base_/mmdet_msrcnn_imports.py', '../_base_/mask_iou_head.py'
]

model = dict(
    type='mmdet_msrcnn.MaskScoringMask2Former',
    mask_scorer=dict(
        type='mmdet_msrcnn.DetectionMaskScorer',
        featmap_strides=[4, 8, 16, 32],
        in_channels=[256, 512, 1024, 2048],
        mask_iou_head={{_base_.msrcnn_mask_iou_head}}))
