# ms-rcnn_r18_fpn_nuclei_frozen-upgrade.py with the RoI's size as an input
# of the MaskIoU head (box_size_input: log2 of its width and height over 32
# px, two constant planes). RoIAlign brings every RoI to one 14 x 14 grid,
# so the head cannot see how many pixels a nucleus has, while the IoU a
# mask reaches depends on it (a one-pixel boundary error costs a 6-pixel
# nucleus far more IoU than a 40-pixel one); the nuclei keep their native
# scale in training and testing, so the size means the same in both
# (docs/ranking.md, "Nuclei: screening head designs on a frozen detector").
_base_ = './ms-rcnn_r18_fpn_nuclei_frozen-upgrade.py'

model = dict(roi_head=dict(mask_iou_head=dict(box_size_input=True)))
