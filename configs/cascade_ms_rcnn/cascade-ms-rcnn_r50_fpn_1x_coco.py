# Cascade Mask R-CNN with mask scoring, ResNet-50 FPN, 1x schedule.
# Mask R-CNN-family baseline:
#   mmdet::cascade_rcnn/cascade-mask-rcnn_r50_fpn_1x_coco.py
# Only the scoring is added: one MaskIoU head, trained on the last mask
# stage, scores the final mask (mean of the three stages' probabilities).
_base_ = 'mmdet::cascade_rcnn/cascade-mask-rcnn_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['mmdet_msrcnn'], allow_failed_imports=False)

model = dict(
    roi_head=dict(
        type='mmdet_msrcnn.CascadeMaskScoringRoIHead',
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
        # the cascade scales every stage's losses by its stage_loss_weights
        # (1, 0.5, 0.25); 4 gives the last stage's MaskIoU loss the paper's
        # weight 1 (the other entries are unused with 'last')
        mask_iou_loss_weights=[1.0, 1.0, 4.0]),
    # train_cfg.rcnn is a per-stage list here; the MaskIoU target binarises
    # the predicted probability at its mask_thr_binary, 0.5 when absent.
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
