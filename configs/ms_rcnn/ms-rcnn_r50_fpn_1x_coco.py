# Mask Scoring R-CNN, ResNet-50 FPN, 1x schedule.
# Mask R-CNN baseline: mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py
# This file adds only the mask scoring; the others inherit from it.
_base_ = [
    'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py',
    '../_base_/mmdet_msrcnn_imports.py', '../_base_/exact_resume.py',
    '../_base_/mask_iou_head.py',
    '../_base_/soft_nms_test.py'
]

model = dict(
    roi_head=dict(
        type='mmdet_msrcnn.MaskScoringRoIHead',
        mask_iou_head={{_base_.msrcnn_mask_iou_head}}),
    # the MaskIoU target binarises the predicted probability at this value
    train_cfg=dict(rcnn=dict(mask_thr_binary=0.5)),
    # paper: Soft-NMS, top 100 detections, then mask head and MaskIoU head
    test_cfg=dict(rcnn={{_base_.msrcnn_rcnn_test_cfg}}))
