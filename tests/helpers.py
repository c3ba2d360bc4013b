"""Tiny models and inputs for fast CPU tests."""
import copy
import importlib.util
import os.path as osp

import torch
from mmengine.config import Config

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))

DEMO_MS = osp.join(REPO_ROOT, 'configs/demo/ms-rcnn_r18_fpn_shapes.py')
DEMO_MASK = osp.join(REPO_ROOT, 'configs/demo/mask-rcnn_r18_fpn_shapes.py')


def load_tool(relpath: str):
    """Import a script of the repository (e.g. ``tools/test.py``) as a module.

    Args:
        relpath (str): Path relative to the repository root.

    Returns:
        module: A fresh module object each call.
    """
    name = '_tool_' + osp.splitext(relpath)[0].replace('/', '_')
    spec = importlib.util.spec_from_file_location(
        name, osp.join(REPO_ROOT, relpath))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def tiny_model_cfg(path: str = DEMO_MS, **roi_head_overrides):
    """The demo model (slim R18 FPN, 4 classes), as a ConfigDict."""
    cfg = Config.fromfile(path)
    model = copy.deepcopy(cfg.model)
    model.roi_head.update(roi_head_overrides)
    return model


def strip_pretrained(cfg) -> None:
    """Switch off every ``init_cfg`` / ``pretrained`` (no downloads)."""
    if isinstance(cfg, dict):
        for key in list(cfg.keys()):
            if key in ('init_cfg', 'pretrained'):
                cfg[key] = None
            else:
                strip_pretrained(cfg[key])
    elif isinstance(cfg, (list, tuple)):
        for item in cfg:
            strip_pretrained(item)


def build_model(model_cfg):
    from mmdet.registry import MODELS
    torch.manual_seed(0)
    model = MODELS.build(model_cfg)
    model.init_weights()
    return model


def demo_batch(model, num_classes, batch_size=1, size=96, num_items=None,
               with_semantic=False, training=True, seed=0):
    """Preprocessed ``(inputs, data_samples)`` from ``demo_mm_inputs``."""
    from mmdet.testing import demo_mm_inputs
    torch.manual_seed(seed)
    packed = demo_mm_inputs(
        batch_size=batch_size,
        image_shapes=[(3, size, size)] * batch_size,
        num_items=num_items or [3] * batch_size,
        # demo_mm_inputs cannot draw labels of a single class
        num_classes=max(num_classes, 2),
        with_mask=True,
        with_semantic=with_semantic)
    if num_classes == 1:
        for sample in packed['data_samples']:
            sample.gt_instances.labels = torch.zeros_like(
                sample.gt_instances.labels)
    data = model.data_preprocessor(packed, training)
    return data['inputs'], data['data_samples']


def slim_queryinst(model, width=32):
    """The QueryInst config with ``width`` channels instead of 256."""
    model.neck.out_channels = width
    model.rpn_head.proposal_feature_channel = width
    roi_head = model.roi_head
    roi_head.proposal_feature_channel = width
    roi_head.bbox_roi_extractor.out_channels = width
    roi_head.mask_roi_extractor.out_channels = width
    for head in roi_head.bbox_head:
        head.update(in_channels=width, feedforward_channels=4 * width)
        head.dynamic_conv_cfg.update(
            in_channels=width, feat_channels=8, out_channels=width)
    for head in roi_head.mask_head:
        head.update(in_channels=width, conv_out_channels=width)
        head.dynamic_conv_cfg.update(
            in_channels=width, feat_channels=8, out_channels=width)
    roi_head.mask_iou_head.update(
        in_channels=width, conv_out_channels=width, fc_out_channels=64)


def steady_boxes(model):
    """Zero box regression: random weights otherwise throw boxes far out
    of the image, where mmdet's mask pasting fails."""
    with torch.no_grad():
        for head in model.roi_head.bbox_head:
            head.fc_reg.weight.zero_()
            head.fc_reg.bias.zero_()
    return model


def checked_coco_dataset(root, classes, pipeline=(), **kwargs):
    """A ``CheckedCocoDataset`` on ``<root>/annotations.json`` and
    ``<root>/images/`` (the hand-made sets of the dataset tests)."""
    from mmdet_msrcnn.registry import DATASETS
    cfg = dict(
        type='mmdet_msrcnn.CheckedCocoDataset',
        data_root=str(root),
        ann_file='annotations.json',
        data_prefix=dict(img='images/'),
        metainfo=dict(classes=classes),
        pipeline=list(pipeline),
        test_mode=True)
    cfg.update(kwargs)
    return DATASETS.build(cfg)


def small_mask_iou_head(**kwargs):
    """A MaskIoU head of 3 classes on 8 x 6 x 6 RoI features, initialised.

    Keyword arguments override the layout (``MaskIoUHead``'s arguments).
    """
    from mmdet_msrcnn.models import MaskIoUHead
    cfg = dict(num_classes=3, roi_feat_size=6, in_channels=8,
               conv_out_channels=8, fc_out_channels=16)
    cfg.update(kwargs)
    head = MaskIoUHead(**cfg)
    head.init_weights()
    return head


def one_step_losses(model_cfg, num_classes: int):
    """Build a model, and its training losses on a 2-image 64 px batch.

    Returns:
        tuple: The model (train mode, gradients zeroed) and the loss dict.
    """
    model = build_model(model_cfg)
    model.train()
    model.zero_grad()
    return model, model.loss(
        *demo_batch(model, num_classes, batch_size=2, size=64))
