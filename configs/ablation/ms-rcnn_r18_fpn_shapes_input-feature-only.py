# Ablation (paper Table 4 (f)): the RoI feature alone, no mask.
# Only this option differs from the base demo model
# (../demo/ms-rcnn_r18_fpn_shapes.py); see docs/ablation.md.
_base_ = '../demo/ms-rcnn_r18_fpn_shapes.py'

model = dict(roi_head=dict(mask_iou_head=dict(input_mode='feature_only')))
