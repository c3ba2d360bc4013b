# Add scoring to a trained model, the paper's training of the head: as
# ms-rcnn_r18_fpn_shapes_frozen-upgrade.py (same checkpoint, frozen
# detector, schedule and hooks), but the MaskIoU head trains on the positive
# RoIs only, without the model's own detections and bin balancing, i.e. the
# head of ../demo/ms-rcnn_r18_fpn_shapes.py:
#
#   python tools/upgrade_scoring.py \
#       configs/upgrade/ms-rcnn_r18_fpn_shapes_frozen-upgrade-paper.py \
#       work_dirs/mask-rcnn_r18_fpn_shapes/epoch_12.pth
_base_ = './ms-rcnn_r18_fpn_shapes_frozen-upgrade.py'

model = dict(
    roi_head=dict(
        mask_iou_detections=None, mask_iou_head=dict(balance_bins=None)))
