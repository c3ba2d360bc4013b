"""Helpers of the detector-level mask scoring tests: slim hosts, twins.

The COCO configs of the scored single-stage / query hosts are slimmed here
(ResNet-18, 32 channels, small heads) so a CPU training step takes a
fraction of a second; the demo configs are slim already.
"""
import copy

import torch

from helpers import build_model, demo_batch, strip_pretrained

#: Our scored detector type -> the mmdet host it extends.
HOST_TYPES = {
    'mmdet_msrcnn.MaskScoringRTMDet': 'RTMDet',
    'mmdet_msrcnn.MaskScoringSOLOv2': 'SOLOv2',
    'mmdet_msrcnn.MaskScoringCondInst': 'CondInst',
    'mmdet_msrcnn.MaskScoringMask2Former': 'Mask2Former',
}
#: The hosts' types, ours and mmdet's.
DETECTOR_TYPES = set(HOST_TYPES) | set(HOST_TYPES.values())
WIDTH = 32
R18_CHANNELS = [64, 128, 256, 512]


def is_detector_level(model_cfg) -> bool:
    """Whether the config is one of the scored hosts or their twins."""
    return model_cfg.type in DETECTOR_TYPES


def _slim_scorer(model_cfg, in_channels) -> None:
    scorer = model_cfg.get('mask_scorer')
    if scorer is None:
        return
    scorer.in_channels = in_channels
    scorer.mask_iou_head.update(
        in_channels=WIDTH, conv_out_channels=WIDTH, fc_out_channels=64)


def _resnet18(model_cfg) -> None:
    model_cfg.backbone.update(depth=18, frozen_stages=-1)


def slim_solov2(model_cfg) -> None:
    """SOLOv2 R-50 FPN -> R-18 FPN of 32 channels, one stacked conv."""
    _resnet18(model_cfg)
    model_cfg.neck.update(in_channels=R18_CHANNELS, out_channels=WIDTH)
    head = model_cfg.mask_head
    head.update(in_channels=WIDTH, feat_channels=WIDTH, stacked_convs=1)
    head.mask_feature_head.update(
        feat_channels=16,
        out_channels=WIDTH,
        norm_cfg=dict(type='GN', num_groups=8, requires_grad=True))
    _slim_scorer(model_cfg, WIDTH)


def slim_condinst(model_cfg) -> None:
    """CondInst R-50 FPN -> R-18 FPN of 32 channels, one stacked conv."""
    _resnet18(model_cfg)
    model_cfg.neck.update(in_channels=R18_CHANNELS, out_channels=WIDTH)
    # 8 groups: P7 is 1 x 1 at 64 px, one value per group of 32 otherwise
    model_cfg.bbox_head.update(
        in_channels=WIDTH,
        feat_channels=WIDTH,
        stacked_convs=1,
        norm_cfg=dict(type='GN', num_groups=8, requires_grad=True))
    model_cfg.mask_head.mask_feature_head.update(
        in_channels=WIDTH, feat_channels=16, num_stacked_convs=1)
    _slim_scorer(model_cfg, WIDTH)


def slim_mask2former(model_cfg) -> None:
    """Mask2Former R-50 -> R-18, 32 channels, 1 + 2 layers, 10 queries.

    Also drops the LSJ batch padding to 1024 x 1024.
    """
    _resnet18(model_cfg)
    model_cfg.data_preprocessor.batch_augments = None
    head = model_cfg.panoptic_head
    head.update(
        in_channels=R18_CHANNELS,
        feat_channels=WIDTH,
        out_channels=WIDTH,
        num_queries=10)
    pix = head.pixel_decoder
    pix.norm_cfg = dict(type='GN', num_groups=8)
    pix.encoder.num_layers = 1
    pix.encoder.layer_cfg.self_attn_cfg.update(embed_dims=WIDTH, num_heads=4)
    pix.encoder.layer_cfg.ffn_cfg.update(
        embed_dims=WIDTH, feedforward_channels=2 * WIDTH)
    pix.positional_encoding.num_feats = WIDTH // 2
    head.positional_encoding.num_feats = WIDTH // 2
    dec = head.transformer_decoder
    dec.num_layers = 2
    for key in ('self_attn_cfg', 'cross_attn_cfg'):
        dec.layer_cfg[key].update(embed_dims=WIDTH, num_heads=4)
    dec.layer_cfg.ffn_cfg.update(
        embed_dims=WIDTH, feedforward_channels=2 * WIDTH)
    model_cfg.train_cfg.num_points = 256
    _slim_scorer(model_cfg, R18_CHANNELS)


def slim_detector(config: str, model_cfg) -> None:
    """Slim a COCO config of a scored host in place (demo configs as is)."""
    if '/demo/' in config:
        return
    host = HOST_TYPES.get(model_cfg.type, model_cfg.type)
    if host == 'SOLOv2':
        slim_solov2(model_cfg)
    elif host == 'CondInst':
        slim_condinst(model_cfg)
    elif host == 'Mask2Former':
        slim_mask2former(model_cfg)


def open_thresholds(model_cfg) -> None:
    """Keep every detection of a random model (score_thr, filter_thr 0).

    Freshly initialised classifiers score about 0.01 (focal-loss prior),
    under the hosts' thresholds; with these open the scorer always has
    detections to train on and score.
    """
    test_cfg = model_cfg.get('test_cfg')
    for key in ('score_thr', 'filter_thr'):
        if test_cfg is not None and key in test_cfg:
            test_cfg[key] = 0.0


def detector_cfg(config_cfg, config: str = ''):
    """A config's model, without pretrained weights, slimmed, thresholds
    open."""
    model_cfg = copy.deepcopy(config_cfg.model)
    strip_pretrained(model_cfg)
    slim_detector(config, model_cfg)
    open_thresholds(model_cfg)
    return model_cfg


def host_cfg(model_cfg):
    """The plain mmdet host of a scored detector config."""
    cfg = copy.deepcopy(model_cfg)
    cfg.type = HOST_TYPES[cfg.type]
    cfg.pop('mask_scorer')
    return cfg


def host_twin(model, model_cfg):
    """The plain mmdet host with the scored model's host weights."""
    host = build_model(host_cfg(model_cfg))
    state = {
        k: v
        for k, v in model.state_dict().items()
        if not k.startswith('mask_scorer.')
    }
    host.load_state_dict(state, strict=True)
    return host


def num_classes_of(model) -> int:
    """Classes of a host's detections."""
    if hasattr(model, 'num_things_classes'):
        return model.num_things_classes
    head = model.bbox_head if getattr(model, 'bbox_head', None) is not None \
        else model.mask_head
    return head.num_classes


def predict(model, num_classes, size=64, batch_size=1, seed=1):
    """``pred_instances`` of a demo batch, eval mode, no gradient."""
    model.eval()
    data = demo_batch(
        model,
        num_classes,
        batch_size=batch_size,
        size=size,
        training=False,
        seed=seed)
    with torch.no_grad():
        return [s.pred_instances for s in model.predict(*data)]
