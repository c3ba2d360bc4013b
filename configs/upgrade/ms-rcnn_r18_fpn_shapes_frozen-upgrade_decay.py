# ms-rcnn_r18_fpn_shapes_frozen-upgrade.py with the overlap decay of the
# nuclei configs (mask_overlap_decay: each mask score x (1 - max mask IoU
# with the higher mask scores of its class)). Test time only: the base
# config's upgraded checkpoint is evaluated unchanged.
_base_ = './ms-rcnn_r18_fpn_shapes_frozen-upgrade.py'

model = dict(roi_head=dict(mask_overlap_decay=True))
