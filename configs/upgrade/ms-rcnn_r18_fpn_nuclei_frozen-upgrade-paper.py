# The paper's training of the head on a frozen nuclei Mask R-CNN: as
# ms-rcnn_r18_fpn_nuclei_frozen-upgrade.py (same checkpoint, frozen
# detector, schedule and hooks), but the MaskIoU head trains on the positive
# RoIs only: no own detections, no bin balancing, no ranking loss (the head
# of ../nuclei/ms-rcnn_r18_fpn_nuclei.py). Screened against the ranking
# options on one checkpoint, the rows differ by the head's training alone
# (tools/benchmark/upgrade_screen.py; docs/ranking.md, "Nuclei: screening
# head designs on a frozen detector").
_base_ = './ms-rcnn_r18_fpn_nuclei_frozen-upgrade.py'

model = dict(
    roi_head=dict(
        mask_iou_detections=None,
        mask_iou_head=dict(balance_bins=None, rank_loss=None)))
