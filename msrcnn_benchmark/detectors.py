"""The three detectors of the speed benchmark, sharing their weights.

Built in one process from our MS R-CNN config:

* ``mask_rcnn``: mmdet's Mask R-CNN (``StandardRoIHead``);
* ``ours``: our MS R-CNN (``mmdet_msrcnn.MaskScoringRoIHead``);
* ``mmdet_ms``: mmdet's built-in MS R-CNN (``MaskScoringRCNN``), whose
  MaskIoU head has the same parameter names (``convs``, ``fcs``,
  ``fc_mask_iou``) and so shares ours too.
"""
import copy
from contextlib import contextmanager

import torch

from .rows import IMPLS

#: roi_head keys that only our mixin understands
MIXIN_KEYS = ('mask_iou_head', 'mask_iou_roi_extractor', 'mask_iou_stages',
              'mask_score_as_score', 'detach_mask')


def init_scope() -> None:
    """mmdet's registries as the default scope, and our package."""
    from mmdet.utils import register_all_modules
    register_all_modules(init_default_scope=True)
    import mmdet_msrcnn  # noqa: F401


@contextmanager
def quiet_logs():
    """mmengine's INFO logs (weight init, ...) off, restored afterwards."""
    from mmengine.logging import MMLogger
    loggers = {
        MMLogger.get_current_instance(),
        MMLogger.get_instance('mmengine')
    }
    levels = [(lg, lg.level) for lg in loggers]
    for lg in loggers:
        lg.setLevel('ERROR')
    try:
        yield
    finally:
        for lg, level in levels:
            lg.setLevel(level)


def detector_cfgs(config_path: str) -> dict:
    """Model configs of the three detectors, from our MS R-CNN config.

    Args:
        config_path (str): An MS R-CNN config of ours.

    Returns:
        dict[str, ConfigDict]: The model configs by implementation.
    """
    from mmengine.config import Config
    cfg = Config.fromfile(config_path)
    ours = copy.deepcopy(cfg.model)
    ours.backbone.init_cfg = None  # random weights, no download
    iou = ours.roi_head.mask_iou_head
    mask_rcnn = copy.deepcopy(ours)
    mask_rcnn.roi_head.type = 'StandardRoIHead'
    for key in MIXIN_KEYS:
        mask_rcnn.roi_head.pop(key, None)
    mmdet_ms = copy.deepcopy(mask_rcnn)
    mmdet_ms.type = 'MaskScoringRCNN'
    mmdet_ms.roi_head.type = 'MaskScoringRoIHead'
    mmdet_ms.roi_head.mask_iou_head = dict(
        type='MaskIoUHead',
        num_convs=iou.get('num_convs', 4),
        num_fcs=iou.get('num_fcs', 2),
        roi_feat_size=iou.get('roi_feat_size', 14),
        in_channels=iou.get('in_channels', 256),
        conv_out_channels=iou.get('conv_out_channels', 256),
        fc_out_channels=iou.get('fc_out_channels', 1024),
        num_classes=iou.num_classes,
        loss_iou=iou.get('loss_iou', dict(type='MSELoss', loss_weight=1.0)))
    return dict(mask_rcnn=mask_rcnn, ours=ours, mmdet_ms=mmdet_ms)


def build_detectors(cfgs, device, seed, cls_scale=1.0, only=None):
    """Build ours with random weights and copy them into the others.

    ``cls_scale`` multiplies the bbox classifier's weights: with the
    initial ones every class score is about ``1 / (num_classes + 1)``, so
    Soft-NMS's ``min_score`` (0.05) would keep one box per class and the
    default ``score_thr`` none; scaled, the scores are peaked as a trained
    detector's.

    Args:
        cfgs (dict): From :func:`detector_cfgs`.
        device (torch.device): Where the models go.
        seed (int): Seeds the random weights.
        cls_scale (float): Factor of the bbox classifier's weights.
        only (str, optional): Build this implementation only.

    Returns:
        tuple[dict, dict]: The models by implementation and, per model, the
        number of ``ours`` entries it did not take (``unexpected``).
    """
    from mmdet.registry import MODELS
    torch.manual_seed(seed)
    ours = MODELS.build(cfgs['ours'])
    ours.init_weights()
    with torch.no_grad():
        fc_cls = ours.roi_head.bbox_head.fc_cls
        fc_cls.weight.mul_(cls_scale)
        fc_cls.bias.mul_(cls_scale)
    state = ours.state_dict()
    models, shared = {}, {}
    for name in IMPLS:
        if only is not None and name != only:
            continue
        if name == 'ours':
            model = ours
            shared[name] = 0
        else:
            model = MODELS.build(cfgs[name])
            missing, unexpected = model.load_state_dict(state, strict=False)
            if missing:
                raise RuntimeError(
                    f'{name}: parameters not shared with ours: {missing}')
            shared[name] = len(unexpected)
        models[name] = model.to(device)
    return models, shared


def num_classes_of(model) -> int:
    """Number of object classes of a detector (RoI or single-stage head)."""
    roi_head = getattr(model, 'roi_head', None)
    for head in (getattr(roi_head, 'bbox_head', None),
                 getattr(model, 'bbox_head', None),
                 getattr(model, 'mask_head', None)):
        if head is not None and hasattr(head, 'num_classes'):
            return head.num_classes
    raise TypeError(f'{type(model).__name__}: no head with num_classes.')


def set_score_thr(model, thr: float) -> None:
    """Set the RoI head's test ``score_thr`` (and the model's copy)."""
    model.roi_head.test_cfg.score_thr = thr
    if model.test_cfg is not None and 'rcnn' in model.test_cfg:
        model.test_cfg.rcnn.score_thr = thr


def make_predict(model, data):
    """A callable running ``model.predict`` on ``(inputs, data_samples)``.
    """
    inputs, samples = data

    def run():
        with torch.no_grad():
            return model.predict(inputs, samples, rescale=True)

    return run


class TrainStep:
    """One training iteration; ``reset`` restores the weights (untimed).

    Args:
        model (nn.Module): The detector.
        data (tuple): Its preprocessed ``(inputs, data_samples)``.
        seed (int): Seeds the sampling of every step after ``reset``.
    """

    def __init__(self, model, data, seed):
        self.model = model
        self.inputs, self._samples = data
        # some heads convert the ground truth in place (RTMDet-Ins: masks
        # to a tensor): every step gets its own copy (made in ``reset``)
        self.samples = copy.deepcopy(self._samples)
        self.seed = seed
        self.snapshot = copy.deepcopy(model.state_dict())
        self.optim = torch.optim.SGD(
            model.parameters(), lr=0.02, momentum=0.9, weight_decay=1e-4)

    def reset(self) -> None:
        self.samples = copy.deepcopy(self._samples)
        self.model.load_state_dict(self.snapshot)
        self.model.train()
        torch.manual_seed(self.seed)

    def __call__(self) -> float:
        losses = self.model.loss(self.inputs, self.samples)
        loss, _ = self.model.parse_losses(losses)
        self.optim.zero_grad()
        loss.backward()
        self.optim.step()
        return float(loss.detach())
