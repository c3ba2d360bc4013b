# Shared config fragment: the paper's test setting for the R-CNN stage,
# Soft-NMS (linear, IoU 0.5, scores down to 0.05) and the top 100
# detections, which then go through the mask head and the MaskIoU head.
# A config lists this file in its _base_ next to the Mask R-CNN baseline and
# sets model.test_cfg.rcnn={{_base_.msrcnn_rcnn_test_cfg}}; `_delete_`
# replaces the baseline's plain NMS instead of merging into it.
#
# Only a named variable, no `model`: mmengine refuses a key that two bases
# both define, so this fragment can stand next to any mmdet base. The name
# also becomes a top-level key of the final config; nothing reads it there.
msrcnn_rcnn_test_cfg = dict(
    nms=dict(
        _delete_=True,
        type='soft_nms',
        iou_threshold=0.5,
        method='linear',
        min_score=0.05),
    max_per_img=100)
