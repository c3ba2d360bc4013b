# Reference for the nuclei benchmark: mmdet's OWN built-in Mask Scoring R-CNN
# (MaskScoringRCNN, mmdet's MaskScoringRoIHead and MaskIoUHead, no scope
# prefix), identical to ms-rcnn_r18_fpn_nuclei.py in model size, data,
# schedule and test settings. mmdet's head writes the mask score into
# `scores`. Compared by tools/benchmark/nuclei.py --models mask ms mmdet_ms.
_base_ = './mask-rcnn_r18_fpn_nuclei.py'

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
