# Add scoring to a trained nuclei Mask R-CNN: upgrades a checkpoint of
# ../nuclei/mask-rcnn_r18_fpn_nuclei.py by training only the MaskIoU head,
# the detector frozen (the schedule and hooks of
# ms-rcnn_r18_fpn_shapes_frozen-upgrade.py, 4 epochs of 133 iterations):
#
#   python tools/upgrade_scoring.py \
#       configs/upgrade/ms-rcnn_r18_fpn_nuclei_frozen-upgrade.py \
#       work_dirs/nuclei/seed0/mask-rcnn_r18_fpn_nuclei/epoch_12.pth
#
# The head is that of ../nuclei/ms-rcnn_r18_fpn_nuclei_dets-balanced_detached_rank.py:
# positives and the model's own detections, 10-bin balancing, the ranking
# loss. With the detector frozen its detections are the final model's, and
# the detector is exactly the checkpoint's, so variants of the head compared
# on one checkpoint differ by the head alone (tools/benchmark/upgrade_screen.py).
_base_ = '../nuclei/ms-rcnn_r18_fpn_nuclei_dets-balanced_detached_rank.py'

max_epochs = 4
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
# AdamW, lr 1e-3 (the nuclei optimizer; it updates the MaskIoU head only)
optim_wrapper = dict(optimizer=dict(type='AdamW', lr=1e-3))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=50)
]
default_hooks = dict(checkpoint=dict(interval=max_epochs, max_keep_ckpts=1))
custom_hooks = [
    dict(type='mmdet_msrcnn.RNGStateHook'),
    # tools/upgrade_scoring.py sets `checkpoint` from its CHECKPOINT
    dict(type='mmdet_msrcnn.FreezeDetectorHook', checkpoint=None)
]
find_unused_parameters = True
load_from = None
