# Ablation (paper Table 5 #2): regress every class's MaskIoU, target 0 for the
# classes other than the ground-truth one.
# Only this option differs from the base demo model
# (../demo/ms-rcnn_r18_fpn_shapes.py); see docs/ablation.md.
_base_ = '../demo/ms-rcnn_r18_fpn_shapes.py'

model = dict(roi_head=dict(mask_iou_head=dict(target_mode='all_classes')))
