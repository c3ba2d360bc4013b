# The paper's schedule: 18 epochs, lr x0.1 after epochs 14 and 17.
# Mask R-CNN baseline: mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py with
# the same schedule.
_base_ = './ms-rcnn_r50_fpn_1x_coco.py'
max_epochs = 18
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0,
         end=500),
    dict(
        type='MultiStepLR',
        begin=0,
        end=max_epochs,
        by_epoch=True,
        milestones=[14, 17],
        gamma=0.1)
]
