# Demo baseline: SOLOv2, a slim ResNet-18 FPN (as the Mask R-CNN demo's)
# trained from scratch on the embedded synthetic "shapes" set
# (tools/dataset_converters/make_shapes.py writes it to data/shapes). Its
# partner solov2-ms_r18_shapes.py differs only by the mask scorer. Simple
# Resize + Flip pipeline, AdamW as the Mask R-CNN demo; the scale ranges of
# the five levels are mmdet's divided by about 6 for the 128 px images
# (objects of 10 to 60 px). `scores` is SOLOv2's classification score x
# maskness after Matrix NMS.
_base_ = [
    'mmdet::solov2/solov2_r50_fpn_1x_coco.py',
    '../_base_/mmdet_msrcnn_imports.py',
    '../_base_/datasets/shapes_instance.py'
]

num_classes = 4
feat_channels = 64
# The mask scorer of the scoring partner, sized to these slim features.
# balance_bins: the scorer trains on the model's own detections, whose many
# near-zero targets (duplicates, background) would swamp the hits;
# train_max_per_img: on the 32 highest-scoring of each image (2 to 7 objects
# per image), which bounds its training cost.
slim_mask_scorer = dict(
    type='mmdet_msrcnn.DetectionMaskScorer',
    train_max_per_img=32,
    featmap_strides=[4, 8, 16, 32],
    in_channels=feat_channels,
    mask_iou_head=dict(
        type='mmdet_msrcnn.MaskIoUHead',
        num_classes=num_classes,
        roi_feat_size=14,
        mask_size=28,
        in_channels=feat_channels,
        conv_out_channels=feat_channels,
        fc_out_channels=256,
        balance_bins=10))

model = dict(
    backbone=dict(
        depth=18,
        base_channels=32,
        frozen_stages=-1,
        norm_eval=False,
        init_cfg=None),
    neck=dict(in_channels=[32, 64, 128, 256], out_channels=feat_channels),
    mask_head=dict(
        num_classes=num_classes,
        in_channels=feat_channels,
        feat_channels=feat_channels,
        stacked_convs=2,
        scale_ranges=((1, 16), (8, 32), (16, 64), (32, 128), (64, 2048)),
        mask_feature_head=dict(
            feat_channels=32, out_channels=feat_channels)))

train_dataloader = _base_.shapes_data.train_dataloader
val_dataloader = _base_.shapes_data.val_dataloader
test_dataloader = val_dataloader
val_evaluator = _base_.shapes_data.val_evaluator
test_evaluator = val_evaluator

# 16 epochs of 100 iterations (400 images, batch 4), about 15 minutes on 2
# CPU cores for the scoring partner: measured 0.40 s / iteration early in
# training and 0.54 s at worst (every detection kept: 100 per image, the
# scorer trained on 32), this twin 0.20-0.23 s (10 iterations each, one
# thread, the other core busy)
max_epochs = 16
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
        milestones=[12, 15],
        gamma=0.1)
]
default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(interval=max_epochs, max_keep_ckpts=1))
randomness = dict(seed=0)
# exact --resume (docs/troubleshooting.md, "Exact resume")
custom_hooks = [dict(type='mmdet_msrcnn.RNGStateHook')]
auto_scale_lr = dict(enable=False, base_batch_size=4)
