# Shared config fragment: the data blocks of the demo shapes set (4 classes,
# 128 x 128 images; tools/dataset_converters/make_shapes.py writes it to
# data/shapes), as configs/demo/mask-rcnn_r18_fpn_shapes.py has them, with
# the evaluators of the mask scoring demos (COCO bbox + segm, and
# MaskQualityMetric: `segm_*` ranked by mask_scores, `score_segm_*` by the
# host's scores, `oracle_*`).
#
# One named variable only, no top-level data keys: mmengine refuses a key
# that two bases both define, so this fragment can stand next to any mmdet
# base. A config reads its blocks as `_base_.shapes_data.train_dataloader`
# etc. (see configs/demo/rtmdet-ins_tiny_shapes.py).
_classes = ('ellipse', 'ring', 'star', 'crescent')
_data_root = 'data/shapes/'
_img_scale = (128, 128)  # the generated images' size
_metainfo = dict(
    classes=_classes,
    palette=[(220, 20, 60), (0, 130, 200), (255, 190, 0), (60, 180, 75)])
_train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='Resize', scale=_img_scale, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
_test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='Resize', scale=_img_scale, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor'))
]
# CheckedCocoDataset: clear errors for missing files / non-COCO json /
# invalid masks up front, categories checked against num_classes
_dataset = dict(
    type='mmdet_msrcnn.CheckedCocoDataset',
    data_root=_data_root,
    metainfo=_metainfo,
    num_classes=len(_classes),
    verify_images=True,
    ann_file='annotations/instances_train.json',
    data_prefix=dict(img='images/train/'),
    pipeline=_train_pipeline)
_train_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    pin_memory=False,
    sampler=dict(type='DefaultSampler', shuffle=True),
    batch_sampler=None,
    dataset=_dataset)
_val_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    pin_memory=False,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        _dataset,
        ann_file='annotations/instances_val.json',
        data_prefix=dict(img='images/val/'),
        pipeline=_test_pipeline,
        test_mode=True))
_val_evaluator = [
    dict(
        type='CocoMetric',
        ann_file=_data_root + 'annotations/instances_val.json',
        metric=['bbox', 'segm'],
        format_only=False),
    dict(
        type='mmdet_msrcnn.MaskQualityMetric',
        ann_file=_data_root + 'annotations/instances_val.json')
]
shapes_data = dict(
    classes=_classes,
    num_classes=len(_classes),
    data_root=_data_root,
    img_scale=_img_scale,
    metainfo=_metainfo,
    train_pipeline=_train_pipeline,
    test_pipeline=_test_pipeline,
    train_dataloader=_train_dataloader,
    val_dataloader=_val_dataloader,
    test_dataloader=_val_dataloader,
    val_evaluator=_val_evaluator,
    test_evaluator=_val_evaluator)
del (_classes, _data_root, _img_scale, _metainfo, _train_pipeline,
     _test_pipeline, _dataset, _train_dataloader, _val_dataloader,
     _val_evaluator)
