# ms-rcnn_r18_fpn_nuclei_frozen-upgrade.py with the MaskIoU head's input of
# the paper's Table 4 (d): the unpooled 28 x 28 mask concatenated with a
# high-resolution RoI feature (a separate RoIAlign of mask size), aimed at
# the small nuclei, whose IoU the 14 x 14 input predicts worst
# (docs/ranking.md, "Nuclei: screening head designs on a frozen detector").
_base_ = './ms-rcnn_r18_fpn_nuclei_frozen-upgrade.py'

mask_size = 28
model = dict(
    roi_head=dict(
        mask_iou_roi_extractor=dict(
            type='SingleRoIExtractor',
            roi_layer=dict(
                type='RoIAlign', output_size=mask_size, sampling_ratio=0),
            out_channels={{_base_.feat_channels}},
            featmap_strides=[4, 8, 16, 32]),
        mask_iou_head=dict(roi_feat_size=mask_size, mask_size=mask_size)))
