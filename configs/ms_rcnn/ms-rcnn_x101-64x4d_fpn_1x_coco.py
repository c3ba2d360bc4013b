# Mask R-CNN baseline: mmdet::mask_rcnn/mask-rcnn_x101-64x4d_fpn_1x_coco.py
_base_ = './ms-rcnn_r50_fpn_1x_coco.py'
model = dict(
    backbone=dict(
        type='ResNeXt',
        depth=101,
        groups=64,
        base_width=4,
        init_cfg=dict(
            type='Pretrained', checkpoint='open-mmlab://resnext101_64x4d')))
