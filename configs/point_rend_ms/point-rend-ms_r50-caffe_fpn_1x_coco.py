# PointRend with mask scoring, ResNet-50-caffe FPN, 1x schedule
# (multi-scale training, as the base).
# Mask R-CNN-family baseline:
#   mmdet::point_rend/point-rend_r50-caffe_fpn_ms-1x_coco.py
# Resolutions: the MaskIoU head's feature is the mask RoI extractor's
# 14 x 14 output. Training regresses the IoU of the coarse mask
# (train_cfg.rcnn.mask_size=7), upsampled to 14 x 14 at the head's input.
# At test time it scores the point-refined mask, 7 * 2**subdivision_steps
# = 224 px a side, adaptively max-pooled to 14 x 14.
_base_ = 'mmdet::point_rend/point-rend_r50-caffe_fpn_ms-1x_coco.py'
custom_imports = dict(imports=['mmdet_msrcnn'], allow_failed_imports=False)

model = dict(
    roi_head=dict(
        type='mmdet_msrcnn.PointRendMaskScoringRoIHead',
        mask_iou_head=dict(
            type='mmdet_msrcnn.MaskIoUHead',
            num_classes=80,
            num_convs=4,
            num_fcs=2,
            roi_feat_size=14,
            mask_size=7,
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
