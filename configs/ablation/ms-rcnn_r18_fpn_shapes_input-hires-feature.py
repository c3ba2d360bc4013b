# Ablation (paper Table 4 (d)): the target mask concatenated with a
# high-resolution RoI feature: a separate RoIAlign of mask size (28 x 28)
# feeds the MaskIoU head, so the mask enters without max pooling.
# Only this option differs from the base demo model
# (../demo/ms-rcnn_r18_fpn_shapes.py); see docs/ablation.md.
_base_ = '../demo/ms-rcnn_r18_fpn_shapes.py'

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
