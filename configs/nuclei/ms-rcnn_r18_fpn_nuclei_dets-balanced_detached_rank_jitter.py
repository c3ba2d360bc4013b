# Real-data benchmark of the jittered-box option
# (../ranking/ms-rcnn_r18_fpn_shapes_dets-balanced_detached_rank_jitter.py)
# on DSB2018 nuclei: ms-rcnn_r18_fpn_nuclei_dets-balanced_detached_rank.py
# plus 4 boxes jittered around each ground-truth nucleus (centre shift and
# log-scale change up to 0.25) as extra MaskIoU training RoIs; the demo's
# settings, not tuned on val.
_base_ = './ms-rcnn_r18_fpn_nuclei_dets-balanced_detached_rank.py'

model = dict(
    roi_head=dict(
        mask_iou_jittered_gts=dict(
            num_per_gt=4, max_offset=0.25, loss_weight=1.0)))
