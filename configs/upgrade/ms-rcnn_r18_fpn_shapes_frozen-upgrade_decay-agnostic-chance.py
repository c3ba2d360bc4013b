# ms-rcnn_r18_fpn_shapes_frozen-upgrade_decay-agnostic.py with the
# second-chance kernel of the nuclei configs
# (mask_overlap_decay_kernel='second_chance': a lower mask whose predicted
# MaskIoU passes more strict IoU thresholds than the mask over it keeps
# that share of its score). Test time only.
_base_ = './ms-rcnn_r18_fpn_shapes_frozen-upgrade_decay-agnostic.py'

model = dict(roi_head=dict(mask_overlap_decay_kernel='second_chance'))
