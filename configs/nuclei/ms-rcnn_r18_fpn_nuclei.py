# Real-data benchmark: Mask Scoring R-CNN, identical to
# mask-rcnn_r18_fpn_nuclei.py except for the MaskIoU head (sized to the slim
# demo features, as in ../demo/ms-rcnn_r18_fpn_shapes.py).
_base_ = './mask-rcnn_r18_fpn_nuclei.py'

model = dict(
    roi_head=dict(
        type='mmdet_msrcnn.MaskScoringRoIHead',
        mask_iou_head={{_base_.slim_mask_iou_head}}),
    train_cfg=dict(rcnn=dict(mask_thr_binary=0.5)))
