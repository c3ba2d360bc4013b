# Ranking work: ms-rcnn_r18_fpn_shapes_dets-balanced_detached_rank.py plus
# more hits of varied quality to order: per ground-truth instance, 4 boxes
# jittered around it (centre shift up to 0.25 of its size, log-scale change
# up to 0.25) train the MaskIoU head too, masks from the mask head without
# gradient, the same exact targets and ranking pairs as the detections
# (MaskScoringMixin mask_iou_jittered_gts). The 4 and the 0.25 were chosen
# before any run, not tuned on val.
_base_ = './ms-rcnn_r18_fpn_shapes_dets-balanced_detached_rank.py'

model = dict(
    roi_head=dict(
        mask_iou_jittered_gts=dict(
            num_per_gt=4, max_offset=0.25, loss_weight=1.0)))
