# Ranking work: ms-rcnn_r18_fpn_shapes_dets-balanced.py with the MaskIoU
# head's RoI feature detached, so no MaskIoU loss reaches the backbone and
# neck. Why: the detections' loss never reaches the detector (no gradient
# there by construction), but the bin balancing reweights the positives'
# MaskIoU loss, which the paper's joint training sends into the shared
# features; a one-step gradient check (docs/ranking.md) shows the detector's
# gradients change with balancing and stay equal without it. Detached, the
# detector trains exactly as Mask R-CNN does while the head scores it.
_base_ = './ms-rcnn_r18_fpn_shapes_dets-balanced.py'

model = dict(roi_head=dict(detach_mask_iou_feats=True))
