# The paper's ablation model: ResNet-18 FPN using only C4 and C5, images
# with short side 600 / long side 1000 for training and testing.
# Mask R-CNN baseline: the same file with roi_head.type='StandardRoIHead'
# and no mask_iou_head (see configs/demo for such a pair).
_base_ = './ms-rcnn_r50_fpn_1x_coco.py'
model = dict(
    backbone=dict(
        depth=18,
        out_indices=(2, 3),
        init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet18')),
    neck=dict(in_channels=[256, 512], num_outs=3),
    rpn_head=dict(
        anchor_generator=dict(scales=[2, 4, 8], strides=[16, 32, 64])),
    roi_head=dict(
        bbox_roi_extractor=dict(featmap_strides=[16, 32]),
        mask_roi_extractor=dict(featmap_strides=[16, 32])))
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='Resize', scale=(1000, 600), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='Resize', scale=(1000, 600), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor'))
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
