# Demo baseline: Mask R-CNN, a slim ResNet-18 FPN trained from scratch on the
# embedded synthetic "shapes" set (tools/dataset_converters/make_shapes.py
# writes it to data/shapes). Its partner ms-rcnn_r18_fpn_shapes.py differs
# only by the MaskIoU head. Both use Soft-NMS, so only the head differs.
_base_ = [
    'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py',
    '../_base_/soft_nms_test.py'
]
# the second import opts in to loading runner checkpoints (message hub,
# numpy values) under torch's weights-only unpickler
custom_imports = dict(
    imports=['mmdet_msrcnn', 'mmdet_msrcnn.utils.allow_runner_checkpoints'],
    allow_failed_imports=False)

classes = ('ellipse', 'ring', 'star', 'crescent')
num_classes = len(classes)
data_root = 'data/shapes/'
feat_channels = 64
img_scale = (128, 128)  # the generated images' size
# The MaskIoU heads of the scoring partners, sized to these slim features:
# ours (ms-rcnn_*, cascade-ms-rcnn_*, the ablations) and mmdet's own
# (mmdet-ms-rcnn_*). Unused here; a child that changes num_classes sets it
# in both (as ../nuclei/mask-rcnn_r18_fpn_nuclei.py does).
slim_mask_iou_head = dict(
    type='mmdet_msrcnn.MaskIoUHead',
    num_classes=num_classes,
    roi_feat_size=14,
    mask_size=28,
    in_channels=feat_channels,
    conv_out_channels=feat_channels,
    fc_out_channels=256)
mmdet_slim_mask_iou_head = dict(
    type='MaskIoUHead',
    num_convs=4,
    num_fcs=2,
    roi_feat_size=14,
    in_channels=feat_channels,
    conv_out_channels=feat_channels,
    fc_out_channels=256,
    num_classes=num_classes)

model = dict(
    data_preprocessor=dict(pad_size_divisor=32),
    backbone=dict(
        depth=18,
        base_channels=32,
        frozen_stages=-1,
        norm_eval=False,
        init_cfg=None),
    neck=dict(in_channels=[32, 64, 128, 256], out_channels=feat_channels),
    rpn_head=dict(
        in_channels=feat_channels,
        feat_channels=feat_channels,
        anchor_generator=dict(scales=[4])),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=feat_channels),
        bbox_head=dict(
            in_channels=feat_channels,
            fc_out_channels=256,
            num_classes=num_classes),
        mask_roi_extractor=dict(out_channels=feat_channels),
        mask_head=dict(
            num_convs=2,
            in_channels=feat_channels,
            conv_out_channels=feat_channels,
            num_classes=num_classes)),
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=1000, max_per_img=300),
        rcnn=dict(sampler=dict(num=128))),
    test_cfg=dict(
        rpn=dict(nms_pre=500, max_per_img=300),
        # paper: Soft-NMS, top 100 detections
        rcnn={{_base_.msrcnn_rcnn_test_cfg}}))

train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor'))
]
metainfo = dict(
    classes=classes,
    palette=[(220, 20, 60), (0, 130, 200), (255, 190, 0), (60, 180, 75)])
# CheckedCocoDataset: missing files, non-COCO json and invalid masks give
# clear errors (or, for invalid masks, a counted warning) up front; every
# image is decoded once before training (0.3 s for the 400 demo images, 2-3 s
# for the 532 nuclei images) and the categories are checked against
# num_classes
dataset_type = 'mmdet_msrcnn.CheckedCocoDataset'
train_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        metainfo=metainfo,
        num_classes=num_classes,
        verify_images=True,
        ann_file='annotations/instances_train.json',
        data_prefix=dict(img='images/train/'),
        pipeline=train_pipeline))
# the same loader on the val split, with the test pipeline
val_dataloader = dict(
    train_dataloader,
    dataset=dict(
        train_dataloader['dataset'],
        ann_file='annotations/instances_val.json',
        data_prefix=dict(img='images/val/'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = [
    dict(
        type='CocoMetric',
        ann_file=data_root + 'annotations/instances_val.json',
        metric=['bbox', 'segm'],
        format_only=False),
    dict(
        type='mmdet_msrcnn.MaskQualityMetric',
        ann_file=data_root + 'annotations/instances_val.json')
]
test_evaluator = val_evaluator

max_epochs = 12
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05),
    clip_grad=dict(max_norm=10, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0,
         end=200),
    dict(
        type='MultiStepLR',
        begin=0,
        end=max_epochs,
        by_epoch=True,
        milestones=[9, 11],
        gamma=0.1)
]
default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(interval=max_epochs, max_keep_ckpts=1))
randomness = dict(seed=0)
# exact --resume: the checkpoints carry the random-number states (python,
# numpy, torch, CUDA) and the hook sets them again when training resumes
# (docs/troubleshooting.md, "Exact resume")
custom_hooks = [dict(type='mmdet_msrcnn.RNGStateHook')]
auto_scale_lr = dict(enable=False, base_batch_size=4)
