# Shared config fragment: the paper's MaskIoU head for a ResNet FPN Mask
# R-CNN on COCO (80 classes): a 256 x 14 x 14 mask RoI feature and the
# 28 x 28 predicted mask, 4 convolutions, 2 fully connected layers, MSE loss
# of weight 1. A config lists this file in its _base_ next to the Mask R-CNN
# baseline and reads the head as {{_base_.msrcnn_mask_iou_head}} (or, to
# change a field, dict(_base_.msrcnn_mask_iou_head, mask_size=7)).
#
# Only a named variable, no `model`: mmengine refuses a key that two bases
# both define, so this fragment can stand next to any mmdet base. The name
# also becomes a top-level key of the final config; nothing reads it there.
msrcnn_mask_iou_head = dict(
    type='mmdet_msrcnn.MaskIoUHead',
    num_classes=80,
    num_convs=4,
    num_fcs=2,
    roi_feat_size=14,
    mask_size=28,
    in_channels=256,
    conv_out_channels=256,
    fc_out_channels=1024,
    loss_iou=dict(type='MSELoss', loss_weight=1.0))
