# Mask Scoring R-CNN, ResNet-50 FPN, 1x schedule, mixed precision (fp16
# autocast with a dynamic loss scale), as mmdet's
# mask_rcnn/mask-rcnn_r50_fpn_amp-1x_coco.py. Needs a GPU: mmengine's
# AmpOptimWrapper refuses to build on a CPU-only machine. The MaskIoU
# targets and loss are computed in float32 inside the autocast region.
_base_ = './ms-rcnn_r50_fpn_1x_coco.py'

optim_wrapper = dict(
    type='AmpOptimWrapper', dtype='float16', loss_scale='dynamic')
