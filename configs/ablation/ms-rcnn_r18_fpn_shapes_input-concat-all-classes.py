# Ablation (paper Table 4 (c)): the masks of all classes concatenated with the
# RoI feature.
# Only this option differs from the base demo model
# (../demo/ms-rcnn_r18_fpn_shapes.py); see docs/ablation.md.
_base_ = '../demo/ms-rcnn_r18_fpn_shapes.py'

model = dict(
    roi_head=dict(mask_iou_head=dict(input_mode='concat_all_classes')))
