# Cascade Mask R-CNN with mask scoring, ResNet-50 FPN, 1x schedule.
# Mask R-CNN-family baseline:
#   mmdet::cascade_rcnn/cascade-mask-rcnn_r50_fpn_1x_coco.py
# Only the scoring is added: one MaskIoU head, trained on the last mask
# stage, scores the final mask (mean of the three stages' probabilities).
# Its loss has the head's own weight (loss_iou.loss_weight, the paper's 1);
# the cascade's stage_loss_weights do not apply to it.
_base_ = [
    'mmdet::cascade_rcnn/cascade-mask-rcnn_r50_fpn_1x_coco.py',
    '../_base_/mmdet_msrcnn_imports.py', '../_base_/exact_resume.py',
    '../_base_/mask_iou_head.py',
    '../_base_/soft_nms_test.py'
]

model = dict(
    roi_head=dict(
        type='mmdet_msrcnn.CascadeMaskScoringRoIHead',
        mask_iou_head={{_base_.msrcnn_mask_iou_head}},
        mask_iou_stages='last'),
    # train_cfg.rcnn is a per-stage list here; the MaskIoU target binarises
    # the predicted probability at its mask_thr_binary, 0.5 when absent.
    # paper: Soft-NMS, top 100 detections, then mask head and MaskIoU head
    test_cfg=dict(rcnn={{_base_.msrcnn_rcnn_test_cfg}}))
