# Reference for the demo comparison: mmdet's OWN built-in Mask Scoring R-CNN
# (MaskScoringRCNN, mmdet's MaskScoringRoIHead and MaskIoUHead, no scope
# prefix), identical to ms-rcnn_r18_fpn_shapes.py in model, data, schedule
# and test settings (Soft-NMS, top 100). mmdet's head writes the mask score
# into `scores`, so its box AP and its "classification score" metrics use
# cls score x MaskIoU. Compared by tools/benchmark/demo_compare.py.
_base_ = './mask-rcnn_r18_fpn_shapes.py'

model = dict(
    type='MaskScoringRCNN',
    roi_head=dict(
        type='MaskScoringRoIHead',
        mask_iou_head={{_base_.mmdet_slim_mask_iou_head}}),
    train_cfg=dict(rcnn=dict(mask_thr_binary=0.5)))
