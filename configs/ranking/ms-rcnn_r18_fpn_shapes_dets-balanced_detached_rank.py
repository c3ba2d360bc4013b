# Ranking work: ms-rcnn_r18_fpn_shapes_dets-balanced_detached.py plus the
# MaskIoU head's pairwise ranking loss (MaskIoUHead rank_loss, defaults:
# weight 1, pairs of one image and class whose targets differ by > 0.05
# with the lower one >= 0.1), on the positives and on the detections. Aim:
# order the hits, where the regression compresses its predictions (the
# spread table of docs/ranking.md). Weight and thresholds are the defaults,
# chosen before any run, not tuned on val.
_base_ = './ms-rcnn_r18_fpn_shapes_dets-balanced_detached.py'

model = dict(roi_head=dict(mask_iou_head=dict(rank_loss=dict())))
