# Hybrid Task Cascade (no semantic branch) with mask scoring, R-50 FPN, 1x.
# Mask R-CNN-family baseline:
#   mmdet::htc/htc-without-semantic_r50_fpn_1x_coco.py
# Trains on plain COCO-format instance data. One MaskIoU head, trained on
# the last mask stage (its input is that stage's mask RoI feature, before
# the mask information flow is added), scores the final mask.
_base_ = 'mmdet::htc/htc-without-semantic_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['mmdet_msrcnn'], allow_failed_imports=False)

model = dict(
    roi_head=dict(
        type='mmdet_msrcnn.HTCMaskScoringRoIHead',
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
            loss_iou=dict(type='MSELoss', loss_weight=1.0)),
        mask_iou_stages='last',
        # stage_loss_weights are (1, 0.5, 0.25): 4 gives the last stage's
        # MaskIoU loss the paper's weight 1
        mask_iou_loss_weights=[1.0, 1.0, 4.0]),
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
