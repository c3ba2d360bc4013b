# Mask Scoring R-CNN, ResNet-50 FPN, 1x schedule.
# Mask R-CNN baseline: mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py
# This file adds only the mask scoring; the others inherit from it.
_base_ = 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['mmdet_msrcnn'], allow_failed_imports=False)

model = dict(
    roi_head=dict(
        type='mmdet_msrcnn.MaskScoringRoIHead',
        mask_iou_head=dict(
            type='mmdet_msrcnn.MaskIoUHead',
            num_classes=80,
            num_convs=4,
            num_fcs=2,
            roi_feat_size=14,
            mask_size=28,
            in_channels=256,
            conv_out_channels=256,
            fc_out_channels=1024,
            loss_iou=dict(type='MSELoss', loss_weight=1.0))),
    # the MaskIoU target binarises the predicted probability at this value
    train_cfg=dict(rcnn=dict(mask_thr_binary=0.5)),
    # paper: Soft-NMS, top 100 detections, then mask head and MaskIoU head
    test_cfg=dict(
        rcnn=dict(
            nms=dict(
                _delete_=True,
                type='soft_nms',
                iou_threshold=0.5,
                method='linear',
                min_score=0.05),
            max_per_img=100)))
