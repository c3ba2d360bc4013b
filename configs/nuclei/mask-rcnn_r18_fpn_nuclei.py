# Real-data benchmark baseline: Mask R-CNN, the slim ResNet-18 FPN of the demo
# trained from scratch on DSB2018 nuclei (1 class, up to 375 instances per
# image, about 90 % COCO-small). Its partner ms-rcnn_r18_fpn_nuclei.py differs
# only by the MaskIoU head.
#
# - Training: random 256 x 256 crops at the native scale (nuclei keep their
#   size: about 5-60 px, median 20 px), horizontal and vertical flips.
# - Testing: whole images at the native scale (256 x 256 up to 1388 x 1040).
# - Small objects: anchors of 8 px on P2 (scale 2 x strides 4..64, so
#   8..128 px); every RoI below 112 px reads P2 (SingleRoIExtractor).
# - Crowded images: 1000 RPN proposals and up to 400 detections per image;
#   the segm AP of MaskQualityMetric is taken at up to 1000 detections
#   (max_dets), CocoMetric's bbox/segm mAP at 100 (its mAP_50 ... at 1000).
#
# The data set is read in place from ../shared/datasets/dsb2018_nuclei (see
# its README.md). Another root: tools/benchmark/nuclei.py --data-root, or
# with tools/train.py set every path, e.g.
#   --cfg-options train_dataloader.dataset.data_root=R/
#   val_dataloader.dataset.data_root=R/ test_dataloader.dataset.data_root=R/
#   val_evaluator.0.ann_file=R/annotations/instances_val.json (and .1, and
#   test_evaluator.0 / .1 likewise).
_base_ = '../demo/mask-rcnn_r18_fpn_shapes.py'

classes = ('nucleus', )
num_classes = 1
data_root = '../shared/datasets/dsb2018_nuclei/'
crop_size = (256, 256)
max_per_img = 400  # detections per image (at most 375 nuclei in one image)
# The demo's optimizer and schedule: 12 epochs, here of 133 iterations (532
# images, 4 crops per batch), see the timing notes in docs/ablation.md.
# The scoring partners' MaskIoU heads (defined in the demo base), 1 class.
slim_mask_iou_head = dict(num_classes=num_classes)
mmdet_slim_mask_iou_head = dict(num_classes=num_classes)

model = dict(
    rpn_head=dict(anchor_generator=dict(scales=[2])),
    roi_head=dict(
        bbox_head=dict(num_classes=num_classes),
        mask_head=dict(num_classes=num_classes)),
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=2000, max_per_img=1000),
        rcnn=dict(sampler=dict(num=256))),
    test_cfg=dict(
        rpn=dict(nms_pre=2000, max_per_img=1000),
        rcnn=dict(max_per_img=max_per_img)))

train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(
        type='RandomCrop',
        crop_size=crop_size,
        allow_negative_crop=False,
        recompute_bbox=True),
    # a crop can keep an instance whose box touches it but whose mask lies
    # outside: an empty mask with a 0 x 0 box (its box-regression target is
    # log(0), a NaN loss). Measured: 14 in 10,257 cropped instances.
    dict(
        type='FilterAnnotations',
        min_gt_bbox_wh=(0, 0),
        min_gt_mask_area=1,
        by_mask=True),
    dict(
        type='RandomFlip',
        prob=[0.25, 0.25],
        direction=['horizontal', 'vertical']),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='Resize', scale_factor=1.0, keep_ratio=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor'))
]
metainfo = dict(classes=classes, palette=[(220, 20, 60)])
train_dataloader = dict(
    batch_size=4,
    dataset=dict(
        data_root=data_root,
        metainfo=metainfo,
        num_classes=num_classes,
        ann_file='annotations/instances_train.json',
        data_prefix=dict(img='images/'),
        pipeline=train_pipeline))
# the same folder and classes, the val annotations and the test pipeline
val_dataloader = dict(
    batch_size=1,
    dataset=dict(
        train_dataloader['dataset'],
        ann_file='annotations/instances_val.json',
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = [
    dict(
        type='CocoMetric',
        ann_file=data_root + 'annotations/instances_val.json',
        metric=['bbox', 'segm'],
        proposal_nums=(100, 300, 1000),
        format_only=False),
    dict(
        type='mmdet_msrcnn.MaskQualityMetric',
        ann_file=data_root + 'annotations/instances_val.json',
        max_dets=(100, 300, 1000))
]
test_evaluator = val_evaluator
