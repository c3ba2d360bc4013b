# Demo baseline: RTMDet-Ins, a slim CSPNeXt (tiny depth, widen 0.25) trained
# from scratch on the embedded synthetic "shapes" set
# (tools/dataset_converters/make_shapes.py writes it to data/shapes). Its
# partner rtmdet-ins-ms_tiny_shapes.py differs only by the mask scorer.
# Simple Resize + Flip pipeline (no Mosaic / MixUp, so RTMDet's
# PipelineSwitchHook and EMAHook are replaced by the RNG-state hook), AdamW
# as the Mask R-CNN demo. `scores` is RTMDet-Ins's classification score.
_base_ = [
    'mmdet::rtmdet/rtmdet-ins_tiny_8xb32-300e_coco.py',
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
    featmap_strides=[8, 16, 32],
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
    use_syncbn=False,
    data_preprocessor=dict(pad_size_divisor=32),
    backbone=dict(
        deepen_factor=0.167,
        widen_factor=0.25,
        norm_cfg=dict(type='BN'),
        init_cfg=None),
    neck=dict(
        in_channels=[64, 128, 256],
        out_channels=feat_channels,
        num_csp_blocks=1,
        norm_cfg=dict(type='BN')),
    bbox_head=dict(
        num_classes=num_classes,
        in_channels=feat_channels,
        feat_channels=feat_channels,
        stacked_convs=2,
        norm_cfg=dict(type='BN', requires_grad=True)))

train_dataloader = _base_.shapes_data.train_dataloader
val_dataloader = _base_.shapes_data.val_dataloader
test_dataloader = val_dataloader
val_evaluator = _base_.shapes_data.val_evaluator
test_evaluator = val_evaluator

# 30 epochs of 100 iterations (400 images, batch 4), about 15 minutes on 2
# CPU cores for the scoring partner: measured 0.14 s / iteration early in
# training and 0.31 s at worst (every detection kept: 100 per image, the
# scorer trained on 32), this twin 0.10-0.13 s (10 iterations each, one
# thread, the other core busy)
max_epochs = 30
train_cfg = dict(
    max_epochs=max_epochs, val_interval=max_epochs, dynamic_intervals=None)
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
        milestones=[22, 27],
        gamma=0.1)
]
default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(interval=max_epochs, max_keep_ckpts=1))
randomness = dict(seed=0)
# exact --resume (docs/troubleshooting.md, "Exact resume"); replaces RTMDet's
# EMAHook and PipelineSwitchHook (no Mosaic stage to switch from)
custom_hooks = [dict(type='mmdet_msrcnn.RNGStateHook')]
auto_scale_lr = dict(enable=False, base_batch_size=4)
