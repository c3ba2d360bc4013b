# Reference for the nuclei benchmark: mmdet's OWN built-in Mask Scoring R-CNN
# (MaskScoringRCNN, mmdet's MaskScoringRoIHead and MaskIoUHead, no scope
# prefix), identical to ms-rcnn_r18_fpn_nuclei.py in model size, data,
# schedule and test settings. mmdet's head writes the mask score into
# `scores`. Compared by tools/benchmark/nuclei.py --models mask ms mmdet_ms.
_base_ = './mask-rcnn_r18_fpn_nuclei.py'

model = dict(
    type='MaskScoringRCNN',
    roi_head=dict(
        type='MaskScoringRoIHead',
        mask_iou_head={{_base_.mmdet_slim_mask_iou_head}}),
    train_cfg=dict(rcnn=dict(mask_thr_binary=0.5)))
