# Mask Scoring R-CNN on a Faster R-CNN style C4 model (no FPN), ResNet-101.
# Mask R-CNN baseline: mmdet::mask_rcnn/mask-rcnn_r50-caffe-c4_1x_coco.py
# with depth 101. The mask feature is the shared res5 head's output
# (2048 x 7 x 7) and the mask is 14 x 14, so the MaskIoU head is sized to it.
_base_ = [
    'mmdet::mask_rcnn/mask-rcnn_r50-caffe-c4_1x_coco.py',
    '../_base_/mmdet_msrcnn_imports.py', '../_base_/exact_resume.py',
    '../_base_/soft_nms_test.py'
]
model = dict(
    backbone=dict(
        depth=101,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='open-mmlab://detectron2/resnet101_caffe')),
    roi_head=dict(
        type='mmdet_msrcnn.MaskScoringRoIHead',
        mask_iou_head=dict(
            type='mmdet_msrcnn.MaskIoUHead',
            num_classes=80,
            roi_feat_size=7,
            mask_size=14,
            in_channels=2048,
            conv_out_channels=256,
            fc_out_channels=1024)),
    train_cfg=dict(rcnn=dict(mask_thr_binary=0.5)),
    # paper: Soft-NMS, top 100 detections, then mask head and MaskIoU head
    test_cfg=dict(rcnn={{_base_.msrcnn_rcnn_test_cfg}}))
