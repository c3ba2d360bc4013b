# Ranking work: training on the model's own detections (as
# ms-rcnn_r18_fpn_shapes_dets.py) with the regression balanced over 10 IoU
# bins (IoU-Net style), so that the many near-zero targets of false
# positives do not swamp the ordering of the hits. The balancing applies to
# the positives' loss too.
_base_ = './ms-rcnn_r18_fpn_shapes_dets.py'

model = dict(roi_head=dict(mask_iou_head=dict(balance_bins=10)))
