# Hybrid Task Cascade with mask scoring, ResNet-50 FPN, 1x schedule.
# Mask R-CNN-family baseline: mmdet::htc/htc_r50_fpn_1x_coco.py
# Has HTC's semantic branch, so it needs COCO-stuff maps
# (data/coco/stuffthingmaps); without them use
# htc-ms-without-semantic_r50_fpn_1x_coco.py. The MaskIoU head sees the
# mask RoI feature after the semantic fusion.
_base_ = [
    'mmdet::htc/htc_r50_fpn_1x_coco.py',
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
