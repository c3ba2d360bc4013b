# Add scoring to a trained model: upgrades a checkpoint of
# configs/demo/mask-rcnn_r18_fpn_shapes.py (a plain Mask R-CNN) to Mask
# Scoring R-CNN by training only the MaskIoU head, the detector frozen:
#
#   python tools/train.py configs/demo/mask-rcnn_r18_fpn_shapes.py
#   python tools/upgrade_scoring.py \
#       configs/upgrade/ms-rcnn_r18_fpn_shapes_frozen-upgrade.py \
#       work_dirs/mask-rcnn_r18_fpn_shapes/epoch_12.pth
#
# The model is ../ranking/ms-rcnn_r18_fpn_shapes_dets-balanced.py: the head
# trains on the positive RoIs and on the model's own detections, with the
# regression balanced over 10 IoU bins. FreezeDetectorHook loads the
# checkpoint weights-only (only roi_head.mask_iou_head.* may be missing; its
# optimizer and epoch are not resumed), freezes everything else and keeps
# the frozen modules in eval mode (docs/mask_scoring_recipe.md, "Add scoring
# to a trained model").
_base_ = '../ranking/ms-rcnn_r18_fpn_shapes_dets-balanced.py'

max_epochs = 4
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
# AdamW, lr 1e-3 (the demo's optimizer; it updates the MaskIoU head only)
optim_wrapper = dict(optimizer=dict(type='AdamW', lr=1e-3))
# warm-up over the first half epoch (100 iterations per epoch), then
# constant
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=50)
]
default_hooks = dict(checkpoint=dict(interval=max_epochs, max_keep_ckpts=1))
custom_hooks = [
    dict(type='mmdet_msrcnn.RNGStateHook'),
    # tools/upgrade_scoring.py sets `checkpoint` from its CHECKPOINT
    dict(type='mmdet_msrcnn.FreezeDetectorHook', checkpoint=None)
]
# distributed runs: the frozen parameters get no gradient under DDP
find_unused_parameters = True
load_from = None
