# ms-rcnn_r18_fpn_nuclei_frozen-upgrade.py plus the MaskIoU head's ranking
# loss on the mask scores of the model's own detections (score_rank_loss,
# its defaults: weight 1, pairs of one class across the batch's images whose
# cls x true IoU differ by > 0.02). AP sorts all detections of a class by
# cls x predicted IoU, and on nuclei the head orders the confident hits
# worst (Pearson 0.60-0.72 over the hits with cls > 0.5 against 0.84 over
# all hits): this loss weighs each detection by its cls score, as AP does.
# Chosen before its run, on the held-out training images, not on val.
_base_ = './ms-rcnn_r18_fpn_nuclei_frozen-upgrade.py'

model = dict(roi_head=dict(mask_iou_head=dict(score_rank_loss=dict())))
