"""Training cost of the scoring options and of the scored hosts.

One training iteration (forward, backward, SGD step) of each config in
:data:`DEMO_VARIANTS`, timed interleaved in one process on the same random
batch, beside the detector it adds scoring to:

* the MS R-CNN training options of ``configs/ranking`` (own detections, bin
  balancing, ranking losses, jittered ground-truth boxes, the lighter head)
  and the frozen upgrade of ``configs/upgrade`` (only the MaskIoU head
  trains), against the demo Mask R-CNN and the paper's training; these
  share every common weight;
* the single-stage hosts with :class:`DetectionMaskScorer` against the same
  host without it (same seed: the host's weights are equal, the scorer is
  extra).

What the scorer trains on is counted (MaskIoU head RoIs per iteration):
random weights give other detections than a trained model, so the detection
options run at a stated worst case: the RoI heads' classifier is peaked by
``cls_scale`` (as in the rest of the benchmark) and the single-stage hosts
keep ``max_per_img`` detections (their test thresholds set to 0:
:data:`OPEN_THRESHOLDS`).
"""
import copy
import os.path as osp

import torch

from .detectors import TrainStep
from .inputs import make_batch
from .macs import FlatOutputs, macs_by_hooks
from .latency import time_train_steps
from .timing import CallCounter, paired_ratio, stats

#: (key, label, config, baseline key): the demo-size table
DEMO_VARIANTS = (
    ('mask_rcnn', 'Mask R-CNN (no scorer)',
     'configs/demo/mask-rcnn_r18_fpn_shapes.py', None),
    ('paper', 'ours, paper training (positive RoIs)',
     'configs/demo/ms-rcnn_r18_fpn_shapes.py', 'mask_rcnn'),
    ('dets', 'ours + own detections',
     'configs/ranking/ms-rcnn_r18_fpn_shapes_dets.py', 'mask_rcnn'),
    ('dets_balanced', 'ours + own detections + 10-bin balancing',
     'configs/ranking/ms-rcnn_r18_fpn_shapes_dets-balanced.py', 'mask_rcnn'),
    ('dets_balanced_detached',
     'ours + own detections + 10-bin balancing, features detached',
     'configs/ranking/ms-rcnn_r18_fpn_shapes_dets-balanced_detached.py',
     'mask_rcnn'),
    ('dets_balanced_detached_rank',
     'the same + pairwise ranking loss',
     'configs/ranking/ms-rcnn_r18_fpn_shapes_dets-balanced_detached_rank.py',
     'mask_rcnn'),
    ('dets_balanced_detached_rank_score_rank',
     'the same + ranking loss on the mask scores of the detections',
     'configs/ranking/'
     'ms-rcnn_r18_fpn_shapes_dets-balanced_detached_rank_score-rank.py',
     'mask_rcnn'),
    ('dets_balanced_detached_rank_jitter',
     'the same + 4 jittered boxes per instance',
     'configs/ranking/'
     'ms-rcnn_r18_fpn_shapes_dets-balanced_detached_rank_jitter.py',
     'mask_rcnn'),
    ('light_head', 'ours, light head (2 convs x 32, 1 fc x 128)',
     'configs/ranking/ms-rcnn_r18_fpn_shapes_light-head.py', 'mask_rcnn'),
    ('frozen_upgrade', 'frozen upgrade: MaskIoU head only (dets + balancing)',
     'configs/upgrade/ms-rcnn_r18_fpn_shapes_frozen-upgrade.py',
     'mask_rcnn'),
    ('frozen_upgrade_image',
     'frozen upgrade + the pixels under each mask (image_input)',
     'configs/upgrade/ms-rcnn_r18_fpn_shapes_frozen-upgrade_image.py',
     'mask_rcnn'),
    ('rtmdet_ins', 'RTMDet-Ins tiny (no scorer)',
     'configs/demo/rtmdet-ins_tiny_shapes.py', None),
    ('rtmdet_ins_ms', 'RTMDet-Ins tiny + DetectionMaskScorer',
     'configs/demo/rtmdet-ins-ms_tiny_shapes.py', 'rtmdet_ins'),
    ('solov2', 'SOLOv2 R18 (no scorer)', 'configs/demo/solov2_r18_shapes.py',
     None),
    ('solov2_ms', 'SOLOv2 R18 + DetectionMaskScorer',
     'configs/demo/solov2-ms_r18_shapes.py', 'solov2'),
)
#: the reference of the ``x paper`` column (RoI-head options only)
PAPER = 'paper'


def _model_cfg(config: str):
    from mmengine.config import Config
    cfg = Config.fromfile(config)
    model = copy.deepcopy(cfg.model)
    if model.get('backbone', {}).get('init_cfg') is not None:
        model.backbone.init_cfg = None  # random weights, no download
    # the frozen upgrade's hook config, if any: trainable prefixes
    hooks = [
        h for h in cfg.get('custom_hooks', []) or []
        if str(h.get('type', '')).endswith('FreezeDetectorHook')
    ]
    trainable = hooks[0].get('trainable') if hooks else None
    return model, bool(hooks), trainable


def _iou_head(model):
    """The MaskIoU head of an RoI-head or a single-stage scored model."""
    if hasattr(model, 'mask_scorer'):
        return model.mask_scorer.mask_iou_head
    roi_head = getattr(model, 'roi_head', None)
    return getattr(roi_head, 'mask_iou_head', None)


#: test-time thresholds of the single-stage hosts set to 0 in training
#: rows: every candidate up to ``max_per_img`` survives (SOLOv2's masks of
#: random weights are otherwise empty below ``mask_thr``)
OPEN_THRESHOLDS = ('score_thr', 'mask_thr', 'filter_thr')


def _open_thresholds(model) -> None:
    """Keep ``max_per_img`` detections of a single-stage host."""
    for name in ('bbox_head', 'mask_head'):
        head = getattr(model, name, None)
        test_cfg = getattr(head, 'test_cfg', None)
        for key in OPEN_THRESHOLDS:
            if test_cfg is not None and key in test_cfg:
                test_cfg[key] = 0.0


def build_variants(variants, repo_root, device, seed, cls_scale):
    """Build every variant with the same seed; share the RoI family's weights.

    Args:
        variants (Sequence[tuple]): ``(key, label, config, base)`` rows.
        repo_root (str): Where the config paths start.
        device (torch.device): Where the models go.
        seed (int): Seeds the random weights of each build.
        cls_scale (float): Factor of the RoI bbox classifier's weights
            (see :func:`msrcnn_benchmark.detectors.build_detectors`).

    Returns:
        dict[str, dict]: Per key: ``model``, ``label``, ``base``,
        ``frozen`` (the trainable prefixes when frozen, else None) and
        ``config``.
    """
    from mmdet.registry import MODELS
    from mmdet_msrcnn.engine.freeze import freeze_detector
    built, reference = {}, None
    for key, label, config, base in variants:
        model_cfg, frozen, trainable = _model_cfg(osp.join(repo_root, config))
        torch.manual_seed(seed)
        model = MODELS.build(model_cfg)
        model.init_weights()
        if hasattr(model, 'roi_head'):
            if reference is None:
                with torch.no_grad():
                    fc_cls = model.roi_head.bbox_head.fc_cls
                    fc_cls.weight.mul_(cls_scale)
                    fc_cls.bias.mul_(cls_scale)
                reference = model.state_dict()
            else:  # every weight of the same shape as the first one's
                own = model.state_dict()
                model.load_state_dict(
                    {
                        k: v
                        for k, v in reference.items()
                        if k in own and own[k].shape == v.shape
                    },
                    strict=False)
        else:
            _open_thresholds(model)
        prefixes = None
        if frozen:
            prefixes = freeze_detector(model, trainable).trainable_prefixes
        built[key] = dict(
            model=model.to(device),
            label=label,
            base=base,
            frozen=prefixes,
            config=config)
    return built


class FrozenTrainStep(TrainStep):
    """A training step of a frozen detector: its frozen parts in eval mode.

    Args:
        model (nn.Module): The detector, frozen by ``freeze_detector``.
        data (tuple): Its preprocessed ``(inputs, data_samples)``.
        seed (int): Seeds the sampling of every step after ``reset``.
        trainable (list[str]): The trainable prefixes.
    """

    def __init__(self, model, data, seed, trainable):
        super().__init__(model, data, seed)
        self.trainable = trainable
        self.optim = torch.optim.SGD(
            [p for p in model.parameters() if p.requires_grad],
            lr=0.02,
            momentum=0.9,
            weight_decay=1e-4)

    def reset(self) -> None:
        from mmdet_msrcnn.engine.freeze import set_frozen_eval
        super().reset()
        set_frozen_eval(self.model, self.trainable)


def head_macs_per_roi(iou_head, device) -> int:
    """Multiply-adds of a MaskIoU head for one RoI (conv and fc layers)."""
    channels = iou_head.num_classes if (
        iou_head.input_mode == 'concat_all_classes') else None
    size = iou_head.mask_size
    mask = torch.rand(1, channels, size, size, device=device) if channels \
        else torch.rand(1, size, size, device=device)
    feat = torch.randn(
        1,
        iou_head.in_channels,
        iou_head.roi_feat_size,
        iou_head.roi_feat_size,
        device=device)
    iou_head.eval()
    inputs = (feat, mask)
    if getattr(iou_head, 'with_image_input', False):
        # one 32 x 32 px RoI on a 64 px image: the stem's crop and convs
        rois = torch.tensor([[0., 16., 16., 48., 48.]], device=device)
        image = torch.rand(1, iou_head.image_stem.in_channels, 64, 64,
                           device=device)
        inputs = (feat, mask, rois, iou_head.crop_image(image, rois))
    return macs_by_hooks(FlatOutputs(iou_head), inputs)


def bench_train_cost(args, device, repo_root, variants=DEMO_VARIANTS):
    """ms per training iteration of every variant, with paired ratios.

    Args:
        args (Namespace): ``train_batch``, ``size``, ``num_gt``, ``seed``,
            ``repeat``, ``warmup`` and ``cls_scale`` of the run.
        device (torch.device): Synchronised around every run.
        repo_root (str): Where the config paths start.
        variants (Sequence[tuple]): The rows (default: the demo table).

    Returns:
        dict[str, dict]: Per key: ``label``, ``config``, ``base``,
        ``frozen``, ``ms`` (:func:`stats`), ``vs_base`` and ``vs_paper``
        (:func:`paired_ratio`, or None), ``scorer_rois`` (MaskIoU head
        RoIs per iteration), ``trainable_params`` and
        ``head_macs_per_roi`` (None without a MaskIoU head).
    """
    built = build_variants(variants, repo_root, device, args.seed,
                           args.cls_scale)
    steps, counters = {}, {}
    for key, item in built.items():
        model = item['model']
        data = make_batch(model, args.train_batch, args.size, args.num_gt,
                          args.seed, True)
        if item['frozen']:
            steps[key] = FrozenTrainStep(model, data, args.seed,
                                         item['frozen'])
        else:
            steps[key] = TrainStep(model, data, args.seed)
        head = _iou_head(model)
        counters[key] = CallCounter(dict(rois=head) if head else {})

    times, _ = time_train_steps(steps, counters, args, device)
    out = {}
    for key, item in built.items():
        counters[key].remove()
        model = item['model']
        head = _iou_head(model)
        ms = stats(times[key], 1e3)
        base = item['base']
        vs_base = paired_ratio(ms, stats(times[base], 1e3)) if base else None
        vs_paper = (
            paired_ratio(ms, stats(times[PAPER], 1e3)) if PAPER in times
            and hasattr(model, 'roi_head') and key not in (PAPER, base)
            else None)
        rois = counters[key].counts.get('rois', [])
        out[key] = dict(
            label=item['label'],
            config=item['config'],
            base=base,
            frozen=item['frozen'],
            ms=ms,
            vs_base=vs_base,
            vs_paper=vs_paper,
            scorer_rois=sum(rois) if head else None,
            trainable_params=sum(p.numel() for p in model.parameters()
                                 if p.requires_grad),
            head_macs_per_roi=head_macs_per_roi(head, device)
            if head else None)
        steps[key].reset()
    return out


def _fmt_ratio(pr) -> str:
    if pr is None:
        return '-'
    noise = f" (+-{pr['noise']:.3f})" if pr['ratios'] else ''
    return f"{pr['ratio']:.3f}{noise}"


def markdown_train_cost(cost: dict) -> list:
    """The training-cost table as markdown lines."""
    if not cost:
        return []
    lines = [
        '', 'Training cost of the scoring options and hosts (one iteration: '
        'forward, backward, SGD step; medians, interleaved; x base: paired '
        'ratio against the row named in brackets; MaskIoU RoIs: what the '
        'scorer regressed in the timed iteration, at the stated worst '
        'case of random weights).', '',
        '| variant | ms/iter | x base | x paper training | MaskIoU RoIs / '
        'iter | MaskIoU head MMACs / RoI | trainable params |',
        '|---|---|---|---|---|---|---|'
    ]
    for key, row in cost.items():
        ms = row['ms']
        base = f" [{row['base']}]" if row['base'] else ''
        macs = (f"{row['head_macs_per_roi'] / 1e6:.2f}"
                if row['head_macs_per_roi'] else '-')
        rois = '-' if row['scorer_rois'] is None else str(row['scorer_rois'])
        lines.append(
            f"| {row['label']} | {ms['median']:.1f} "
            f"[{ms['q1']:.1f}, {ms['q3']:.1f}] | "
            f"{_fmt_ratio(row['vs_base'])}{base} | "
            f"{_fmt_ratio(row['vs_paper'])} | {rois} | {macs} | "
            f"{row['trainable_params']:,} |")
    return lines
