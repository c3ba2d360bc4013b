# ms-rcnn_r18_fpn_shapes_frozen-upgrade_decay.py, class-agnostic: a mask
# score x (1 - max mask IoU with the higher mask scores of *any* class). On
# the shapes a mask of the wrong class over an object is the common second
# copy. Test time only: the base config's upgraded checkpoint is evaluated
# unchanged.
_base_ = './ms-rcnn_r18_fpn_shapes_frozen-upgrade.py'

model = dict(roi_head=dict(mask_overlap_decay='class_agnostic'))
