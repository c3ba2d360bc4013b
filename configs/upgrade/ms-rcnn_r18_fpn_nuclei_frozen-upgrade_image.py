# ms-rcnn_r18_fpn_nuclei_frozen-upgrade.py with the pixels under each mask
# as an input of the MaskIoU head (image_input: the network-input image
# RoIAligned on the RoI enlarged by 4 mask cells per side, 36 x 36 for the
# 28 x 28 mask, standardised per RoI, stacked with the mask and convolved to
# 16 planes of the 14 x 14 grid). Three fixed image cues already recover 3.7
# to 4.6 points of headroom this head misses on both seeds (docs/ranking.md,
# "What the image holds that the head misses"); this lets the head learn
# them. The detector class only adds the image to the features it hands the
# RoI head: the Mask R-CNN checkpoint loads unchanged. Chosen before any run
# (defaults of MaskImageStem), not tuned on val.
_base_ = './ms-rcnn_r18_fpn_nuclei_frozen-upgrade.py'

model = dict(
    type='mmdet_msrcnn.ImageInputMaskRCNN',
    roi_head=dict(mask_iou_head=dict(image_input=dict())))
