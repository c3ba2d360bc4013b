# PointRend with mask scoring, ResNet-50-caffe FPN, 1x schedule
# (multi-scale training, as the base).
# Mask R-CNN-family baseline:
#   mmdet::point_rend/point-rend_r50-caffe_fpn_ms-1x_coco.py
# Resolutions: the MaskIoU head's feature is the mask RoI extractor's
# 14 x 14 output. Training regresses the IoU of the coarse mask
# (train_cfg.rcnn.mask_size=7), upsampled to 14 x 14 at the head's input.
# At test time it scores the point-refined mask, 7 * 2**subdivision_steps
# = 224 px a side, adaptively max-pooled to 14 x 14.
_base_ = [
    'mmdet::point_rend/point-rend_r50-caffe_fpn_ms-1x_coco.py',
    '../_base_/mmdet_msrcnn_imports.py', '../_base_/exact_resume.py',
    '../_base_/mask_iou_head.py',
    '../_base_/soft_nms_test.py'
]

model = dict(
    roi_head=dict(
        type='mmdet_msrcnn.PointRendMaskScoringRoIHead',
        # the shared head, with the coarse mask's size
        mask_iou_head=dict(_base_.msrcnn_mask_iou_head, mask_size=7)),
    # the MaskIoU target binarises the predicted probability at this value
    train_cfg=dict(rcnn=dict(mask_thr_binary=0.5)),
    # paper: Soft-NMS, top 100 detections, then mask head and MaskIoU head
    test_cfg=dict(rcnn={{_base_.msrcnn_rcnn_test_cfg}}))
