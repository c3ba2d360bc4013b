# ms-rcnn_r18_fpn_shapes_frozen-upgrade.py with the pixels under each mask
# as an input of the MaskIoU head (mask_iou_head.image_input, see
# ms-rcnn_r18_fpn_nuclei_frozen-upgrade_image.py); the detector class only
# adds the image to the features it hands the RoI head, so the Mask R-CNN
# checkpoint loads unchanged. Its training cost is a row of
# tools/benchmark/speed.py.
_base_ = './ms-rcnn_r18_fpn_shapes_frozen-upgrade.py'

model = dict(
    type='mmdet_msrcnn.ImageInputMaskRCNN',
    roi_head=dict(mask_iou_head=dict(image_input=dict())))
