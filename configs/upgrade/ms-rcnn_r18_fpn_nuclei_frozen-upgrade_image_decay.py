# The image head (ms-rcnn_r18_fpn_nuclei_frozen-upgrade_image.py) with the
# overlap decay of ms-rcnn_r18_fpn_nuclei_frozen-upgrade_decay.py: test
# time only, the image head's checkpoint evaluated unchanged.
_base_ = './ms-rcnn_r18_fpn_nuclei_frozen-upgrade_image.py'

model = dict(roi_head=dict(mask_overlap_decay=True))
