# Ablation (paper Table 6): train the MaskIoU head only on positive RoIs whose
# MaskIoU target is above tau = 0.7.
# Only this option differs from the base demo model
# (../demo/ms-rcnn_r18_fpn_shapes.py); see docs/ablation.md.
_base_ = '../demo/ms-rcnn_r18_fpn_shapes.py'

model = dict(roi_head=dict(mask_iou_head=dict(iou_thr=0.7)))
