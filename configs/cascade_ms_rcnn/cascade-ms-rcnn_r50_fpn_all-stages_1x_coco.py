# Cascade Mask R-CNN with mask scoring on every mask stage.
# Mask R-CNN-family baseline:
#   mmdet::cascade_rcnn/cascade-mask-rcnn_r50_fpn_1x_coco.py
# Each of the three mask stages trains its own MaskIoU head on its own mask;
# at test time the last stage's head scores the final (merged) mask.
_base_ = './cascade-ms-rcnn_r50_fpn_1x_coco.py'

mask_iou_head = dict(
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
model = dict(
    roi_head=dict(
        mask_iou_head=[mask_iou_head, mask_iou_head, mask_iou_head],
        mask_iou_stages='all',
        # times the cascade's stage_loss_weights (1, 0.5, 0.25): every
        # stage's MaskIoU loss ends up with the paper's weight 1
        mask_iou_loss_weights=[1.0, 2.0, 4.0]))
