# Hybrid Task Cascade (no semantic branch) with mask scoring, R-50 FPN, 1x.
# Mask R-CNN-family baseline:
#   mmdet::htc/htc-without-semantic_r50_fpn_1x_coco.py
# Trains on plain COCO-format instance data. One MaskIoU head, trained on
# the last mask stage (its input is that stage's mask RoI feature, before
# the mask information flow is added), scores the final mask.
_base_ = [
    'mmdet::htc/htc-without-semantic_r50_fpn_1x_coco.py',
    '../_base_/mmdet_msrcnn_imports.py', '../_base_/exact_resume.py',
    '../_base_/mask_iou_head.py',
    '../_base_/soft_nms_test.py'
]

model = dict(
    roi_head=dict(
        type='mmdet_msrcnn.HTCMaskScoringRoIHead',
        mask_iou_head={{_base_.msrcnn_mask_iou_head}},
        mask_iou_stages='last'),
    # paper: Soft-NMS, top 100 detections, then mask head and MaskIoU head
    test_cfg=dict(rcnn={{_base_.msrcnn_rcnn_test_cfg}}))
