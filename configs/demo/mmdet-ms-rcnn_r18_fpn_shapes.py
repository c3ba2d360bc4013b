# Reference for the demo comparison: mmdet's OWN built-in Mask Scoring R-CNN
# (MaskScoringRCNN, mmdet's MaskScoringRoIHead and MaskIoUHead, no scope
# prefix), identical to ms-rcnn_r18_fpn_shapes.py in model, data, schedule
# and test settings (Soft-NMS, top 100). mmdet's head writes the mask score
# into `scores`, so its box AP and its "classification score" metrics use
# cls score x MaskIoU. Compared by tools/benchmark/demo_compare.py.
_base_ = './mask-rcnn_r18_fpn_shapes.py'

model = dict(
    type='MaskScoringRCNN',
    roi_head=dict(
        type='MaskScoringRoIHead',
        mask_iou_head=dict(
            type='MaskIoUHead',
            num_convs=4,
            num_fcs=2,
            roi_feat_size=14,
            in_channels={{_base_.feat_channels}},
            conv_out_channels={{_base_.feat_channels}},
            fc_out_channels=256,
            num_classes={{_base_.num_classes}})),
    train_cfg=dict(rcnn=dict(mask_thr_binary=0.5)))
