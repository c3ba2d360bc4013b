# Ranking work: ms-rcnn_r18_fpn_shapes_dets-balanced_detached_rank.py plus
# the MaskIoU head's ranking loss on the mask scores of the model's own
# detections (MaskIoUHead score_rank_loss, defaults: weight 1, pairs of one
# class across the batch's images whose cls x true IoU differ by > 0.02),
# the order AP sorts by. Screened on nuclei on a frozen detector
# (docs/ranking.md); here for the training-cost table of the speed
# benchmark. Defaults chosen before any run, not tuned on val.
_base_ = './ms-rcnn_r18_fpn_shapes_dets-balanced_detached_rank.py'

model = dict(roi_head=dict(mask_iou_head=dict(score_rank_loss=dict())))
