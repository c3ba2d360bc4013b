# ms-rcnn_r18_fpn_nuclei_frozen-upgrade.py without the ranking loss: the
# head trains on the positives and the model's own detections with 10-bin
# balancing (the head of ../nuclei/ms-rcnn_r18_fpn_nuclei_dets-balanced_detached.py).
# On one frozen checkpoint it measures the ranking loss paired
# (docs/ranking.md, "Nuclei: screening head designs on a frozen detector").
_base_ = './ms-rcnn_r18_fpn_nuclei_frozen-upgrade.py'

model = dict(roi_head=dict(mask_iou_head=dict(rank_loss=None)))
