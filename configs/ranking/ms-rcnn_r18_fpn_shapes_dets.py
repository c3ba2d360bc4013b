# Ranking work: the MaskIoU head also trains on the model's own detections
# of each training batch (the test-time box path on the current proposals,
# their masks from the mask head, no gradient into the detector), with the
# exact target of MaskIoUHead.detection_targets (0 for wrong-class and
# background detections). Everything else is ../demo/ms-rcnn_r18_fpn_shapes.py
# (the paper's positives-only training).
_base_ = '../demo/ms-rcnn_r18_fpn_shapes.py'

model = dict(roi_head=dict(mask_iou_detections=dict(loss_weight=1.0)))
