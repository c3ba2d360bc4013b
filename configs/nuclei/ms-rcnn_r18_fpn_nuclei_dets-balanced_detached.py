# Real-data benchmark of the ranking work's best demo option
# (../ranking/ms-rcnn_r18_fpn_shapes_dets-balanced_detached.py) on DSB2018
# nuclei: ms-rcnn_r18_fpn_nuclei.py whose MaskIoU head also trains on the
# model's own detections of each training batch (the test-time box path of
# this config: score > 0.05, Soft-NMS) but only the 100 highest-scoring of
# each 256 x 256 training crop (as the demo's test path keeps; the 400 of
# the whole test images made the first iterations 5x Mask R-CNN's), with the
# regression balanced over 10 IoU bins and its RoI feature detached (no
# MaskIoU gradient into the backbone and neck: the detector trains exactly
# as mask-rcnn_r18_fpn_nuclei.py).
_base_ = './ms-rcnn_r18_fpn_nuclei.py'

model = dict(
    roi_head=dict(
        mask_iou_head=dict(balance_bins=10),
        mask_iou_detections=dict(loss_weight=1.0, max_per_img=100),
        detach_mask_iou_feats=True))
