# Demo: Mask Scoring R-CNN, identical to mask-rcnn_r18_fpn_shapes.py except
# for the MaskIoU head (sized to the slim demo features).
_base_ = './mask-rcnn_r18_fpn_shapes.py'

model = dict(
    roi_head=dict(
        type='mmdet_msrcnn.MaskScoringRoIHead',
        mask_iou_head={{_base_.slim_mask_iou_head}}),
    train_cfg=dict(rcnn=dict(mask_thr_binary=0.5)))
