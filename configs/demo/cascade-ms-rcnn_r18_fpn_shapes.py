# Demo: Cascade Mask R-CNN with mask scoring on the synthetic "shapes" set.
# Mask R-CNN-family baseline:
#   mmdet::cascade_rcnn/cascade-mask-rcnn_r50_fpn_1x_coco.py (its RoI head)
# The slim R-18 FPN, data, schedule and Soft-NMS test settings come from
# mask-rcnn_r18_fpn_shapes.py; the RoI head is mmdet's 3-stage cascade, sized
# like the demo (64 channels, 4 classes), with the MaskIoU head of
# ms-rcnn_r18_fpn_shapes.py trained on the last mask stage. Train with
#   python tools/demo.py --epochs 4 \
#       --config configs/demo/cascade-ms-rcnn_r18_fpn_shapes.py
_base_ = './mask-rcnn_r18_fpn_shapes.py'

# per-stage box regression target stds and IoU thresholds (mmdet's cascade)
stage_target_stds = [[0.1, 0.1, 0.2, 0.2], [0.05, 0.05, 0.1, 0.1],
                     [0.033, 0.033, 0.067, 0.067]]
stage_iou_thrs = [0.5, 0.6, 0.7]

model = dict(
    type='CascadeRCNN',
    roi_head=dict(
        _delete_=True,
        type='mmdet_msrcnn.CascadeMaskScoringRoIHead',
        num_stages=3,
        stage_loss_weights=[1, 0.5, 0.25],
        bbox_roi_extractor=dict(
            type='SingleRoIExtractor',
            roi_layer=dict(type='RoIAlign', output_size=7, sampling_ratio=0),
            out_channels={{_base_.feat_channels}},
            featmap_strides=[4, 8, 16, 32]),
        bbox_head=[
            dict(
                type='Shared2FCBBoxHead',
                in_channels={{_base_.feat_channels}},
                fc_out_channels=256,
                roi_feat_size=7,
                num_classes={{_base_.num_classes}},
                bbox_coder=dict(
                    type='DeltaXYWHBBoxCoder',
                    target_means=[0., 0., 0., 0.],
                    target_stds=stds),
                reg_class_agnostic=True,
                loss_cls=dict(
                    type='CrossEntropyLoss',
                    use_sigmoid=False,
                    loss_weight=1.0),
                loss_bbox=dict(type='SmoothL1Loss', beta=1.0, loss_weight=1.0))
            for stds in stage_target_stds
        ],
        mask_roi_extractor=dict(
            type='SingleRoIExtractor',
            roi_layer=dict(type='RoIAlign', output_size=14, sampling_ratio=0),
            out_channels={{_base_.feat_channels}},
            featmap_strides=[4, 8, 16, 32]),
        mask_head=dict(
            type='FCNMaskHead',
            num_convs=2,
            in_channels={{_base_.feat_channels}},
            conv_out_channels={{_base_.feat_channels}},
            num_classes={{_base_.num_classes}},
            loss_mask=dict(
                type='CrossEntropyLoss', use_mask=True, loss_weight=1.0)),
        mask_iou_head={{_base_.slim_mask_iou_head}},
        mask_iou_stages='last'),
    train_cfg=dict(rcnn=[
        dict(
            assigner=dict(
                type='MaxIoUAssigner',
                pos_iou_thr=thr,
                neg_iou_thr=thr,
                min_pos_iou=thr,
                match_low_quality=False,
                ignore_iof_thr=-1),
            sampler=dict(
                type='RandomSampler',
                num=128,
                pos_fraction=0.25,
                neg_pos_ub=-1,
                add_gt_as_proposals=True),
            mask_size=28,
            mask_thr_binary=0.5,
            pos_weight=-1,
            debug=False) for thr in stage_iou_thrs
    ]))
