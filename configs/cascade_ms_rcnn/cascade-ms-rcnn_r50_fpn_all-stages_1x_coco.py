# Cascade Mask R-CNN with mask scoring on every mask stage.
# Mask R-CNN-family baseline:
#   mmdet::cascade_rcnn/cascade-mask-rcnn_r50_fpn_1x_coco.py
# Each of the three mask stages trains its own MaskIoU head on its own mask;
# at test time the last stage's head scores the final (merged) mask. Every
# stage's MaskIoU loss has the head's own weight (the paper's 1), not the
# cascade's stage_loss_weights.
_base_ = './cascade-ms-rcnn_r50_fpn_1x_coco.py'

model = dict(
    roi_head=dict(
        mask_iou_head=[{{_base_.msrcnn_mask_iou_head}}] * 3,
        mask_iou_stages='all'))
