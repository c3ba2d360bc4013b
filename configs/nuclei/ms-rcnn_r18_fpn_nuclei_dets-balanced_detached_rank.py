# Real-data benchmark of the ranking loss
# (../ranking/ms-rcnn_r18_fpn_shapes_dets-balanced_detached_rank.py) on DSB2018
# nuclei: ms-rcnn_r18_fpn_nuclei_dets-balanced_detached.py plus the MaskIoU
# head's pairwise ranking loss with its defaults (weight 1, pairs of one image
# and class whose targets differ by > 0.05, the lower one >= 0.1), chosen
# before any run and not tuned on val.
_base_ = './ms-rcnn_r18_fpn_nuclei_dets-balanced_detached.py'

model = dict(roi_head=dict(mask_iou_head=dict(rank_loss=dict())))
