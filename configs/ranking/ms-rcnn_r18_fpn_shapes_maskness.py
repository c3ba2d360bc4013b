# Zero-cost baseline: no learned MaskIoU head; mask_scores = classification
# score x maskness (mean mask probability over the binarised foreground,
# SOLOv2's mask score). Trains exactly a Mask R-CNN.
_base_ = '../demo/ms-rcnn_r18_fpn_shapes.py'

model = dict(
    roi_head=dict(
        mask_iou_head=None, mask_score_source='maskness'))
