# Ablation (paper Table 5 #3): regress the classes with an instance inside the
# RoI, each against its instance with the largest area in the RoI.
# Only this option differs from the base demo model
# (../demo/ms-rcnn_r18_fpn_shapes.py); see docs/ablation.md.
_base_ = '../demo/ms-rcnn_r18_fpn_shapes.py'

model = dict(roi_head=dict(mask_iou_head=dict(target_mode='present_classes')))
