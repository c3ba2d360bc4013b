# A lighter MaskIoU head: 2 convolutions of 32 channels (the last with
# stride 2) and one hidden fc of 128, instead of the demo's 4 convolutions
# of 64 channels and 2 fcs of 256. Trained as the paper's head (positives).
_base_ = '../demo/ms-rcnn_r18_fpn_shapes.py'

model = dict(
    roi_head=dict(
        mask_iou_head=dict(
            num_convs=2, conv_out_channels=32, num_fcs=1,
            fc_out_channels=128)))
