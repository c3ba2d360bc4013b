#!/usr/bin/env python
"""Side-by-side speed benchmark of Mask Scoring R-CNN.

Three detectors are built in ONE process from our MS R-CNN config and share
the same random weights for every common part:

* ``mask_rcnn``: mmdet's Mask R-CNN (``StandardRoIHead``);
* ``ours``: our MS R-CNN (``mmdet_msrcnn.MaskScoringRoIHead``);
* ``mmdet_ms``: mmdet's built-in MS R-CNN (``MaskScoringRCNN``), whose
  MaskIoU head has the same parameter names (``convs``, ``fcs``,
  ``fc_mask_iou``) and so shares ours too.

All use the same test config (Soft-NMS, ``max_per_img=100``), so only the
RoI head differs. Measured, as medians over ``--repeat`` runs after
``--warmup`` runs, the three models interleaved run by run:

* inference latency per image at 100 detections (``score_thr=0``) at batch
  1 and 2, and at the default ``score_thr`` (0.05);
* one training iteration (forward, backward, SGD step);
* MaskIoU target computation alone, ours against mmdet's, for 64 / 512 /
  2048 positive RoIs with bitmap and polygon ground truth;
* peak memory of a training step (a fresh subprocess per model on CPU);
* FLOPs (multiply-adds) of the heads per RoI and of the whole model.

Examples::

    python tools/benchmark/speed.py                 # R50-FPN, 512x512
    python tools/benchmark/speed.py --model demo    # slim R18 demo model
    python tools/benchmark/speed.py --smoke --out-json /tmp/speed.json
"""
import argparse
import copy
import cProfile
import gc
import io
import json
import math
import os
import os.path as osp
import platform
import pstats
import resource
import subprocess
import sys
import time
from contextlib import contextmanager
from types import SimpleNamespace

import numpy as np
import torch
from torch import nn

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

IMPLS = ('mask_rcnn', 'ours', 'mmdet_ms')
IMPL_NAMES = dict(
    mask_rcnn='mmdet Mask R-CNN',
    ours='ours MS R-CNN',
    mmdet_ms='mmdet MS R-CNN')
TARGET_IMPLS = ('ours', 'mmdet_ms')
TARGET_ROIS = (64, 512, 2048)
TARGET_KINDS = ('bitmap', 'polygon')
#: positive RoIs per image at most (sampler num 512 x pos_fraction 0.25)
POS_PER_IMAGE = 128
#: keys of the timing rows: (key, label, unit, implementations)
ROW_SPECS = [
    ('infer_b1_100', 'inference, batch 1, 100 dets (score_thr 0)', 'ms/img',
     IMPLS),
    ('infer_b2_100', 'inference, batch 2, 100 dets (score_thr 0)', 'ms/img',
     IMPLS),
    ('infer_b1_default', 'inference, batch 1, score_thr 0.05', 'ms/img',
     IMPLS),
    ('train', 'training iteration (fwd + bwd + SGD step)', 'ms/iter', IMPLS),
    ('infer_mask_branch', 'mask branch only: predict_mask, batch 1, 100 dets',
     'ms/img', IMPLS),
    ('train_mask_branch', 'mask branch only: mask_loss + backward', 'ms/iter',
     IMPLS),
    ('train_peak_mem', 'training memory (peak over the built model)', 'MiB',
     IMPLS),
] + [(f'targets_{kind}_{n}', f'MaskIoU targets, {kind}, {n} RoIs', 'ms',
      TARGET_IMPLS) for kind in TARGET_KINDS for n in TARGET_ROIS]

PRESETS = dict(
    r50=dict(
        config='configs/ms_rcnn/ms-rcnn_r50_fpn_1x_coco.py',
        size=(512, 512),
        train_batch=2,
        num_gt=8,
        repeat=5,
        warmup=1),
    demo=dict(
        config='configs/demo/ms-rcnn_r18_fpn_shapes.py',
        size=(128, 128),
        train_batch=4,
        num_gt=4,
        repeat=7,
        warmup=2),
    smoke=dict(
        config='configs/demo/ms-rcnn_r18_fpn_shapes.py',
        size=(64, 64),
        train_batch=2,
        num_gt=3,
        repeat=1,
        warmup=0))
#: roi_head keys that only our mixin understands
MIXIN_KEYS = ('mask_iou_head', 'mask_iou_roi_extractor', 'mask_iou_stages',
              'mask_iou_loss_weights', 'mask_score_as_score', 'detach_mask')


# ----------------------------------------------------------------------
# set-up
def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Mask R-CNN vs our MS R-CNN vs mmdet MS R-CNN: '
        'latency, training iteration, MaskIoU targets, memory, FLOPs.')
    parser.add_argument(
        '--model',
        choices=('r50', 'demo'),
        default='r50',
        help='r50: R50-FPN COCO config (80 classes) on a random image; '
        'demo: the slim R18 demo model (4 classes, 128 px).')
    parser.add_argument(
        '--smoke',
        action='store_true',
        help='tiny mode for the tests: demo model, 64 px, one run each.')
    parser.add_argument(
        '--device',
        default='cuda' if torch.cuda.is_available() else 'cpu',
        choices=('cpu', 'cuda'))
    parser.add_argument('--repeat', type=int, help='timed runs per row')
    parser.add_argument('--warmup', type=int, help='untimed runs first')
    parser.add_argument(
        '--size',
        type=int,
        nargs=2,
        metavar=('H', 'W'),
        help='input image size')
    parser.add_argument('--train-batch', type=int, help='training batch')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--cls-scale',
        type=float,
        default=30.0,
        help='multiply the (random) bbox classifier weights so that class '
        'scores are peaked as a trained detector\'s (shared by all models)')
    parser.add_argument('--out-md', help='write the tables as markdown')
    parser.add_argument('--out-json', help='write every number as JSON')
    parser.add_argument(
        '--profile',
        action='store_true',
        help='also profile our training step and inference '
        '(torch.profiler and cProfile top entries)')
    parser.add_argument(
        '--skip-memory',
        action='store_true',
        help='do not spawn the peak-memory subprocesses')
    parser.add_argument('--mem-worker', choices=IMPLS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    preset = PRESETS['smoke' if args.smoke else args.model]
    for key in ('repeat', 'warmup', 'size', 'train_batch'):
        if getattr(args, key) is None:
            setattr(args, key, preset[key])
    args.size = tuple(args.size)
    args.config = osp.join(REPO_ROOT, preset['config'])
    args.num_gt = preset['num_gt']
    if args.repeat < 1 or args.warmup < 0:
        parser.error('--repeat must be >= 1 and --warmup >= 0')
    if args.device == 'cuda' and not torch.cuda.is_available():
        parser.error('--device cuda: no CUDA device available')
    return args


def init_scope():
    from mmdet.utils import register_all_modules
    register_all_modules(init_default_scope=True)
    import mmdet_msrcnn  # noqa: F401


@contextmanager
def quiet_logs():
    """mmengine's INFO logs (weight init, ...) off, restored afterwards."""
    from mmengine.logging import MMLogger
    loggers = {MMLogger.get_current_instance(), MMLogger.get_instance(
        'mmengine')}
    levels = [(lg, lg.level) for lg in loggers]
    for lg in loggers:
        lg.setLevel('ERROR')
    try:
        yield
    finally:
        for lg, level in levels:
            lg.setLevel(level)


def detector_cfgs(config_path):
    """Model configs of the three detectors, from our MS R-CNN config."""
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


def num_classes_of(model):
    return model.roi_head.bbox_head.num_classes


def set_score_thr(model, thr):
    model.roi_head.test_cfg.score_thr = thr
    if model.test_cfg is not None and 'rcnn' in model.test_cfg:
        model.test_cfg.rcnn.score_thr = thr


# ----------------------------------------------------------------------
# inputs
def random_polygons(rng, num, height, width):
    """COCO-like star-shaped polygons of log-uniform size, and their boxes."""
    polys, boxes = [], []
    r_max = max(4.0, 0.3 * min(height, width))
    for _ in range(num):
        radius = math.exp(rng.uniform(math.log(4.0), math.log(r_max)))
        cx = rng.uniform(0, width)
        cy = rng.uniform(0, height)
        npts = rng.randint(12, 33)
        ang = np.sort(rng.uniform(0, 2 * np.pi, npts))
        rad = radius * rng.uniform(0.6, 1.0, npts)
        aspect = math.sqrt(rng.uniform(0.5, 2.0))
        xs = np.clip(cx + rad * np.cos(ang) * aspect, 0, width)
        ys = np.clip(cy + rad * np.sin(ang) / aspect, 0, height)
        if xs.max() - xs.min() < 2 or ys.max() - ys.min() < 2:
            xs = np.clip(np.array([cx - 3, cx + 3, cx + 3, cx - 3]), 0,
                         width - 1e-3)
            ys = np.clip(np.array([cy - 3, cy - 3, cy + 3, cy + 3]), 0,
                         height - 1e-3)
            xs[1:3] = xs[0] + 6
            ys[2:] = ys[0] + 6
        polys.append([np.stack([xs, ys], 1).reshape(-1)])
        boxes.append([xs.min(), ys.min(), xs.max(), ys.max()])
    return polys, np.asarray(boxes, dtype=np.float32).reshape(-1, 4)


def to_bitmap(polygons):
    """Bitmaps as the COCO pipeline holds them: C-contiguous uint8.

    (``PolygonMasks.to_bitmap`` gives pycocotools' column-major bool
    arrays; ``LoadAnnotations`` + ``Resize`` give contiguous uint8 ones.)
    """
    from mmdet.structures.mask import BitmapMasks
    return BitmapMasks(
        np.ascontiguousarray(polygons.to_ndarray(), dtype=np.uint8),
        polygons.height, polygons.width)


def make_batch(model, batch_size, size, num_gt, seed, training):
    """Preprocessed random images with COCO-like bitmap ground truth."""
    from mmdet.structures import DetDataSample
    from mmdet.structures.mask import PolygonMasks
    from mmengine.structures import InstanceData
    rng = np.random.RandomState(seed)
    height, width = size
    inputs, samples = [], []
    for i in range(batch_size):
        inputs.append(
            torch.from_numpy(
                rng.randint(0, 256, (3, height, width), dtype=np.uint8)))
        sample = DetDataSample(
            metainfo=dict(
                img_id=i,
                img_path=f'<random {i}>',
                img_shape=(height, width),
                ori_shape=(height, width),
                scale_factor=(1.0, 1.0),
                flip=False,
                flip_direction=None))
        polys, boxes = random_polygons(rng, num_gt, height, width)
        gt = InstanceData()
        gt.bboxes = torch.from_numpy(boxes)
        gt.labels = torch.from_numpy(
            rng.randint(0, num_classes_of(model), num_gt)).long()
        gt.masks = to_bitmap(PolygonMasks(polys, height, width))
        sample.gt_instances = gt
        samples.append(sample)
    data = model.data_preprocessor(
        dict(inputs=inputs, data_samples=samples), training)
    return data['inputs'], data['data_samples']


def single_image_batches(models, args) -> dict:
    """One inference-mode image per model (same pixels and ground truth).

    Args:
        models (dict[str, nn.Module]): The models, by name.
        args (Namespace): ``size``, ``num_gt`` and ``seed`` of the run.

    Returns:
        dict[str, dict]: Model name -> its preprocessed batch of one image.
    """
    return {
        name: make_batch(m, 1, args.size, args.num_gt, args.seed + 1, False)
        for name, m in models.items()
    }


def target_case(num_rois, kind, size, num_gt, seed, device):
    """Positive RoIs and ground truth for the MaskIoU target benchmark.

    The RoIs are jittered ground-truth boxes, at most
    :data:`POS_PER_IMAGE` per image, as in training.
    """
    from mmdet.structures.mask import PolygonMasks
    from mmengine.structures import InstanceData
    rng = np.random.RandomState(seed)
    height, width = size
    num_imgs = max(1, math.ceil(num_rois / POS_PER_IMAGE))
    per_img = [num_rois // num_imgs] * num_imgs
    per_img[-1] += num_rois - sum(per_img)
    sampling_results, gts = [], []
    for num in per_img:
        polys, boxes = random_polygons(rng, num_gt, height, width)
        masks = PolygonMasks(polys, height, width)
        if kind == 'bitmap':
            masks = to_bitmap(masks)
        inds = rng.randint(0, num_gt, num)
        box = boxes[inds]
        wh = np.tile(box[:, 2:] - box[:, :2], 2)
        box = box + rng.uniform(-0.2, 0.2, box.shape) * wh
        box[:, 2:] = np.maximum(box[:, 2:], box[:, :2] + 1)
        sampling_results.append(
            SimpleNamespace(
                pos_priors=torch.from_numpy(box).float().to(device),
                pos_assigned_gt_inds=torch.from_numpy(inds).long().to(
                    device)))
        gts.append(InstanceData(masks=masks))
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(num_rois, 28, 28, generator=gen).to(device)
    mask_targets = (torch.rand(num_rois, 28, 28, generator=gen) >
                    0.5).float().to(device)
    return dict(
        logits=logits,
        probs=logits.sigmoid(),
        mask_targets=mask_targets,
        sampling_results=sampling_results,
        gts=gts)


# ----------------------------------------------------------------------
# timing
def sync(device):
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def bench(fns, repeat, warmup, device, prepare=None):
    """Time callables interleaved, in a rotating order; seconds per run.

    Args:
        fns (dict[str, callable]): What to time, by name.
        repeat (int): Timed runs of each.
        warmup (int): Untimed runs of each first.
        device (torch.device): Synchronised around every run.
        prepare (dict[str, callable], optional): Run, untimed, before each
            run of the callable of the same name.

    Returns:
        tuple[dict, dict]: Seconds per run and the last return value, by
        name.
    """
    times = {name: [] for name in fns}
    last = {}
    names = list(fns)
    for i in range(warmup + repeat):
        # rotate the order: no callable always runs after the same one
        shift = i % len(names)
        for name in names[shift:] + names[:shift]:
            fn = fns[name]
            if prepare and name in prepare:
                prepare[name]()
            gc.collect()
            sync(device)
            start = time.perf_counter()
            last[name] = fn()
            sync(device)
            if i >= warmup:
                times[name].append(time.perf_counter() - start)
    return times, last


def stats(samples, scale=1.0):
    arr = np.asarray(samples, dtype=np.float64) * scale
    return dict(
        median=float(np.median(arr)),
        min=float(arr.min()),
        max=float(arr.max()),
        q1=float(np.percentile(arr, 25)),
        q3=float(np.percentile(arr, 75)),
        n=int(arr.size),
        samples=[float(v) for v in arr])


def paired_ratio(num, den):
    """Median and half range of the per-round ratios ``num / den``.

    The runs are interleaved, so round ``i`` of both ran at about the same
    time: per-round ratios cancel the drift of the machine.
    """
    if num['n'] == den['n'] and num['n'] > 1:
        ratios = np.asarray(num['samples']) / np.asarray(den['samples'])
        return dict(
            ratio=float(np.median(ratios)),
            noise=float((ratios.max() - ratios.min()) / 2),
            ratios=[float(r) for r in ratios])
    return dict(
        ratio=num['median'] / den['median'],
        noise=max(half_spread(num), half_spread(den)),
        ratios=[])


def half_spread(st):
    """Half the min-max range relative to the median."""
    return (st['max'] - st['min']) / (2 * st['median']) if st['median'] else 0


class CallCounter:
    """Count the first-argument length of module calls (RoIs per call)."""

    def __init__(self, modules):
        self.counts = {name: [] for name in modules}
        self.handles = [
            mod.register_forward_pre_hook(self._hook(name))
            for name, mod in modules.items()
        ]

    def _hook(self, name):

        def hook(module, args):
            self.counts[name].append(int(args[0].shape[0]))

        return hook

    def reset(self):
        for value in self.counts.values():
            value.clear()

    def remove(self):
        for handle in self.handles:
            handle.remove()


class PhaseTimer:
    """Accumulate wall time of named callables by wrapping them in place."""

    def __init__(self, device):
        self.device = device
        self.totals = {}
        self._undo = []

    def wrap(self, name, owner, attr, on_class=False):
        """Time ``owner.attr``; ``on_class`` patches ``type(owner)``.

        Patch the class for methods that our mixin itself patches on the
        instance (the mask head's ``loss_and_target``/``predict_by_feat``).
        """
        if on_class:
            owner = type(owner)
        orig = getattr(owner, attr)
        self.totals.setdefault(name, 0.0)  # report in wrapping order
        own = isinstance(owner, type(sys)) or attr in vars(owner)

        def timed(*args, **kwargs):
            sync(self.device)
            start = time.perf_counter()
            try:
                return orig(*args, **kwargs)
            finally:
                sync(self.device)
                self.totals[name] = self.totals.get(
                    name, 0.0) + time.perf_counter() - start

        setattr(owner, attr, timed)
        if own:
            self._undo.append(lambda: setattr(owner, attr, orig))
        else:
            self._undo.append(lambda: delattr(owner, attr))

    def restore(self):
        while self._undo:
            self._undo.pop()()


# ----------------------------------------------------------------------
# measurements
def make_predict(model, data):
    inputs, samples = data

    def run():
        with torch.no_grad():
            return model.predict(inputs, samples, rescale=True)

    return run


class TrainStep:
    """One training iteration; ``reset`` restores the weights (untimed)."""

    def __init__(self, model, data, seed):
        self.model = model
        self.inputs, self.samples = data
        self.seed = seed
        self.snapshot = copy.deepcopy(model.state_dict())
        self.optim = torch.optim.SGD(
            model.parameters(), lr=0.02, momentum=0.9, weight_decay=1e-4)

    def reset(self):
        self.model.load_state_dict(self.snapshot)
        self.model.train()
        torch.manual_seed(self.seed)

    def __call__(self):
        losses = self.model.loss(self.inputs, self.samples)
        loss, _ = self.model.parse_losses(losses)
        self.optim.zero_grad()
        loss.backward()
        self.optim.step()
        return float(loss.detach())


def bench_inference(models, args, device, batch, score_thr, seed, warmup):
    data = {
        name: make_batch(m, batch, args.size, args.num_gt, seed, False)
        for name, m in models.items()
    }
    counters = {}
    for name, m in models.items():
        m.eval()
        set_score_thr(m, score_thr)
        counters[name] = CallCounter(
            dict(
                proposals=m.roi_head.bbox_head,
                dets=m.roi_head.mask_head))
    fns = {name: make_predict(m, data[name]) for name, m in models.items()}
    prepare = {name: counters[name].reset for name in models}
    times, last = bench(fns, args.repeat, warmup, device, prepare)
    info = {}
    for name in models:
        counters[name].remove()
        dets = [len(res.pred_instances) for res in last[name]]
        info[name] = dict(
            dets_per_img=float(np.mean(dets)),
            proposals=sum(counters[name].counts['proposals']))
    return {n: stats(t, 1e3 / batch) for n, t in times.items()}, info


def bench_train(models, args, device):
    steps, counters = {}, {}
    for name, m in models.items():
        data = make_batch(m, args.train_batch, args.size, args.num_gt,
                          args.seed, True)
        steps[name] = TrainStep(m, data, args.seed)
        counters[name] = CallCounter(dict(pos_rois=m.roi_head.mask_head))

    def prepare_fn(name):

        def prepare():
            steps[name].reset()
            counters[name].reset()

        return prepare

    prepare = {name: prepare_fn(name) for name in models}
    times, last = bench(steps, args.repeat, args.warmup, device, prepare)
    info = {}
    for name in models:
        counters[name].remove()
        info[name] = dict(
            pos_rois=sum(counters[name].counts['pos_rois']),
            loss=last[name])
    return {n: stats(t, 1e3) for n, t in times.items()}, info, steps


def bench_mask_branch(models, steps, args, device):
    """The mask branch alone, where the three models differ.

    The RoI head's ``predict_mask`` (inference, 100 detections, batch 1) and
    ``mask_loss`` + backward of its losses (training) are replayed on inputs
    captured from one full run, so the parts all three share (backbone, RPN,
    bbox branch, NMS) do not add their noise.
    """
    captured = {}
    data = single_image_batches(models, args)
    for name, m in models.items():
        rh = m.roi_head
        calls = {}
        for method in ('predict_mask', 'mask_loss'):
            orig = getattr(rh, method)

            def record(*a, _orig=orig, _method=method, **k):
                calls[_method] = (a, k)
                return _orig(*a, **k)

            setattr(rh, method, record)
        try:
            steps[name].reset()  # shared weights, seeded sampling
            m.loss(steps[name].inputs, steps[name].samples)
            m.eval()
            set_score_thr(m, 0.0)
            make_predict(m, data[name])()
        finally:
            del rh.predict_mask, rh.mask_loss
        captured[name] = calls
        p_args, p_kwargs = calls['predict_mask']
        results = p_kwargs.get('results_list', p_args[2] if len(p_args) > 2
                               else None)
        num_dets = sum(len(r) for r in results)
        if num_dets == 0:
            raise RuntimeError(
                f'{name}: the captured predict_mask call has no detection; '
                'the mask branch would be timed doing no work.')
    infer, train, prepare_i, prepare_t = {}, {}, {}, {}
    for name, m in models.items():
        rh = m.roi_head
        (p_args, p_kwargs) = captured[name]['predict_mask']
        l_args, l_kwargs = captured[name]['mask_loss']
        # fresh leaf features: the backward reaches them through RoIAlign
        x = tuple(t.detach().requires_grad_(True) for t in l_args[0])
        l_args = (x, ) + tuple(l_args[1:])
        state = {}

        def prep_infer(m=m, a=p_args, k=p_kwargs, state=state):
            m.eval()
            state['infer'] = (copy.deepcopy(a), k)

        def run_infer(rh=rh, state=state):
            a, k = state['infer']
            with torch.no_grad():
                return rh.predict_mask(*a, **k)

        def prep_train(m=m, x=x, state=state):
            m.train()
            m.zero_grad(set_to_none=True)
            for t in x:
                t.grad = None
            torch.manual_seed(args.seed)

        def run_train(rh=rh, a=l_args, k=l_kwargs):
            losses = rh.mask_loss(*a, **k)['loss_mask']
            sum(v.sum() for v in losses.values()).backward()

        infer[name], prepare_i[name] = run_infer, prep_infer
        train[name], prepare_t[name] = run_train, prep_train
    # warm-up: the first replay allocates its buffers
    t_infer, _ = bench(infer, args.repeat, args.warmup, device, prepare_i)
    t_train, _ = bench(train, args.repeat, args.warmup, device, prepare_t)
    for name, m in models.items():
        steps[name].reset()
        m.zero_grad(set_to_none=True)
    return dict(
        infer_mask_branch={n: stats(t, 1e3)
                           for n, t in t_infer.items()},
        train_mask_branch={n: stats(t, 1e3)
                           for n, t in t_train.items()})


def bench_targets(args, device):
    from mmdet.models.roi_heads.mask_heads import \
        MaskIoUHead as MMDetMaskIoUHead
    from mmengine.config import ConfigDict

    from mmdet_msrcnn.models.mask_heads import MaskIoUHead
    ours = MaskIoUHead(num_classes=80).to(device)
    theirs = MMDetMaskIoUHead(num_classes=80).to(device)
    train_cfg = ConfigDict(mask_thr_binary=0.5)
    rows = {}
    for kind in TARGET_KINDS:
        for num in TARGET_ROIS:
            case = target_case(num, kind, args.size, args.num_gt, args.seed,
                               device)

            def run_ours(case=case):
                return ours.get_targets(case['probs'], case['mask_targets'],
                                        case['sampling_results'],
                                        case['gts'], 0.5)

            def run_theirs(case=case):
                return theirs.get_targets(case['sampling_results'],
                                          case['gts'], case['logits'],
                                          case['mask_targets'], train_cfg)

            times, _ = bench(
                dict(ours=run_ours, mmdet_ms=run_theirs), args.repeat,
                args.warmup, device)
            rows[f'targets_{kind}_{num}'] = {
                n: stats(t, 1e3)
                for n, t in times.items()
            }
    return rows


def python_calls_in_ours(fn):
    """Python function calls made inside ``mmdet_msrcnn`` while ``fn`` runs.
    """
    pkg = osp.join('mmdet_msrcnn', '')
    prof = cProfile.Profile()
    prof.enable()
    fn()
    prof.disable()
    st = pstats.Stats(prof)
    return sum(v[1] for k, v in st.stats.items() if pkg in k[0])


def per_roi_loop_check(args, device):
    """Our MaskIoU head's Python call count must not grow with the RoIs."""
    from mmdet_msrcnn.models.mask_heads import MaskIoUHead
    head = MaskIoUHead(num_classes=80, in_channels=8,
                       conv_out_channels=8, fc_out_channels=16).to(device)
    out = {}
    for kind in TARGET_KINDS:
        counts = {}
        for num in (64, 2048):
            case = target_case(num, kind, args.size, args.num_gt, args.seed,
                               device)
            # same number of images for both sizes: only the RoIs differ
            case['sampling_results'] = [
                SimpleNamespace(
                    pos_priors=torch.cat(
                        [r.pos_priors for r in case['sampling_results']]),
                    pos_assigned_gt_inds=torch.cat([
                        r.pos_assigned_gt_inds.clamp(max=args.num_gt - 1)
                        for r in case['sampling_results']
                    ]))
            ]
            case['gts'] = case['gts'][:1]
            feats = torch.randn(num, 8, 14, 14, device=device)
            labels = torch.randint(0, 80, (num, ), device=device)

            def run(case=case, feats=feats, labels=labels):
                preds = head(feats, case['probs'])
                targets = head.get_targets(case['probs'],
                                           case['mask_targets'],
                                           case['sampling_results'],
                                           case['gts'])
                head.loss(preds, targets, labels)['loss_mask_iou'].backward()
                results = SimpleNamespace(
                    labels=labels, scores=torch.rand(num, device=device))
                head.predict_by_feat([preds.detach()], [results])

            run()  # first call imports / caches
            counts[num] = python_calls_in_ours(run)
        out[kind] = counts
    return out


def train_breakdown(models, steps, args, device):
    """Time the MaskIoU parts of a training step on their captured inputs.
    """
    rows = {}
    for name in ('ours', 'mmdet_ms'):
        if name not in models:
            continue
        model = models[name]
        head = model.roi_head.mask_iou_head
        captured = {}
        orig_targets = head.get_targets

        def get_targets(*a, _orig=orig_targets, **k):
            captured['targets'] = (a, k)
            return _orig(*a, **k)

        def pre_hook(module, a):
            captured['forward'] = tuple(x.detach() for x in a)

        head.get_targets = get_targets
        handle = head.register_forward_pre_hook(pre_hook)
        steps[name].reset()
        steps[name]()
        handle.remove()
        del head.get_targets
        if 'targets' not in captured:
            continue
        t_args, t_kwargs = captured['targets']
        feats, masks = captured['forward']
        # mmdet's MaskIoU loss reaches the mask logits; ours detaches them
        mask_grad = name == 'mmdet_ms'

        def fwd_bwd(head=head, feats=feats, masks=masks, grad=mask_grad):
            f = feats.clone().requires_grad_(True)
            m = masks.clone().requires_grad_(grad)
            head(f, m).square().mean().backward()
            head.zero_grad(set_to_none=True)

        def targets(head=head, a=t_args, k=t_kwargs):
            return head.get_targets(*a, **k)

        fns = dict(fwd_bwd=fwd_bwd, targets=targets)
        if name == 'ours':
            from mmdet_msrcnn.models.roi_heads.mask_scoring_mixin import \
                record_mask_head
            roi_head = model.roi_head

            def hooks(roi_head=roi_head):
                # recorder set-up and argument naming of one mask_loss call
                for _ in range(100):
                    roi_head._host_arguments('mask_loss', (), dict(
                        x=None, sampling_results=None, bbox_feats=None,
                        batch_gt_instances=None))
                    with record_mask_head(roi_head.mask_head):
                        pass

            fns['hooks_x100'] = hooks
        times, _ = bench(fns, args.repeat, max(1, args.warmup), device)
        row = {k: stats(v, 1e3) for k, v in times.items()}
        if 'hooks_x100' in row:
            row['hooks'] = stats(
                [t / 100 for t in times['hooks_x100']], 1e3)
            del row['hooks_x100']
        row['pos_rois'] = int(feats.shape[0])
        rows[name] = row
    if 'ours' in models:
        rows['ours_sweep'] = head_sweep(models['ours'].roi_head.mask_iou_head,
                                        args, device)
    return rows


def head_sweep(head, args, device):
    """Our MaskIoU head's forward + backward at more positive RoIs.

    A trained RPN gives up to 128 positives per image (random weights give
    fewer): time the head alone, on random inputs, at 32 and 128 a image.
    """
    out = {}
    shape = (head.in_channels, head.roi_feat_size, head.roi_feat_size)
    for per_img in (32, POS_PER_IMAGE):
        num = per_img * args.train_batch
        feats = torch.randn(num, *shape, device=device)
        masks = torch.rand(num, head.mask_size, head.mask_size, device=device)

        def fwd_bwd(feats=feats, masks=masks):
            head(feats.clone().requires_grad_(True),
                 masks).square().mean().backward()
            head.zero_grad(set_to_none=True)

        times, _ = bench(
            dict(fwd_bwd=fwd_bwd), min(args.repeat, 2), 0, device)
        out[num] = stats(times['fwd_bwd'], 1e3)
    return out


def phase_breakdown(models, args, device, train_steps):
    """Median wall time of the main phases of inference and training."""
    import importlib
    mmcv_nms = importlib.import_module('mmcv.ops.nms')
    phase_runs = 1  # a breakdown; the models are warm by now
    out = {}
    data = single_image_batches(models, args)
    for name, m in models.items():
        train_steps[name].reset()  # the initial weights
        m.eval()
        set_score_thr(m, 0.0)
        rh = m.roi_head
        per_run = []
        for _ in range(phase_runs):
            timer = PhaseTimer(device)
            timer.wrap('backbone+neck', m, 'extract_feat')
            timer.wrap('rpn', m.rpn_head, 'predict')
            timer.wrap('bbox branch (incl. NMS)', rh, 'predict_bbox')
            timer.wrap('  soft_nms (mmcv)', mmcv_nms, 'soft_nms')
            timer.wrap('mask branch', rh, 'predict_mask')
            timer.wrap('  mask head fwd', rh.mask_head, 'forward')
            timer.wrap('  mask paste', rh.mask_head, 'predict_by_feat',
                       on_class=True)
            if hasattr(rh, 'mask_iou_head'):
                timer.wrap('  MaskIoU head fwd', rh.mask_iou_head, 'forward')
            try:
                total = time.perf_counter()
                make_predict(m, data[name])()
                timer.totals['total'] = time.perf_counter() - total
            finally:
                timer.restore()
            per_run.append(timer.totals)
        out.setdefault('inference_b1_100', {})[name] = {
            k: float(np.median([r.get(k, 0.0) for r in per_run])) * 1e3
            for k in per_run[0]
        }
    for name, m in models.items():
        step = train_steps[name]
        rh = m.roi_head
        per_run = []
        for _ in range(phase_runs):
            step.reset()
            timer = PhaseTimer(device)
            timer.wrap('backbone+neck', m, 'extract_feat')
            timer.wrap('rpn loss+proposals', m.rpn_head, 'loss_and_predict')
            timer.wrap('roi head loss', rh, 'loss')
            timer.wrap('  bbox loss', rh, 'bbox_loss')
            timer.wrap('  mask loss (incl. MaskIoU)', rh, 'mask_loss')
            timer.wrap('    mask targets+loss', rh.mask_head,
                       'loss_and_target', on_class=True)
            if hasattr(rh, 'mask_iou_head'):
                timer.wrap('    MaskIoU head fwd', rh.mask_iou_head,
                           'forward')
                timer.wrap('    MaskIoU targets', rh.mask_iou_head,
                           'get_targets')
            timer.wrap('backward', torch.Tensor, 'backward')
            timer.wrap('optimizer step', step.optim, 'step')
            try:
                total = time.perf_counter()
                step()
                sync(device)
                timer.totals['total'] = time.perf_counter() - total
            finally:
                timer.restore()
            per_run.append(timer.totals)
        out.setdefault('train', {})[name] = {
            k: float(np.median([r.get(k, 0.0) for r in per_run])) * 1e3
            for k in per_run[0]
        }
    return out


# ----------------------------------------------------------------------
# FLOPs (multiply-adds, the paper's "FLOPs")
def macs_by_hooks(module, inputs):
    """Multiply-adds of the conv / deconv / linear layers, from shapes."""
    total = [0]

    def hook(mod, inp, out):
        if isinstance(mod, nn.ConvTranspose2d):
            k = mod.kernel_size[0] * mod.kernel_size[1]
            total[0] += inp[0].numel() * mod.out_channels // mod.groups * k
        elif isinstance(mod, nn.Conv2d):
            k = mod.kernel_size[0] * mod.kernel_size[1]
            total[0] += out.numel() * mod.in_channels // mod.groups * k
        elif isinstance(mod, nn.Linear):
            total[0] += out.numel() * mod.in_features

    handles = [
        m.register_forward_hook(hook) for m in module.modules()
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear))
    ]
    try:
        with torch.no_grad():
            module(*inputs)
    finally:
        for h in handles:
            h.remove()
    return total[0]


def macs_by_mmengine(module, inputs):
    from mmengine.analysis import get_model_complexity_info
    with torch.no_grad():
        info = get_model_complexity_info(
            module, inputs=tuple(inputs), show_table=False, show_arch=False)
    return int(info['flops'])


class _Flat(nn.Module):
    """Call ``fn(module, *inputs)`` and flatten the outputs to a tuple."""

    def __init__(self, module, fn=None):
        super().__init__()
        self.module = module
        self.fn = fn

    def forward(self, *inputs):
        out = self.fn(self.module, *inputs) if self.fn else self.module(
            *inputs)
        flat = []

        def visit(o):
            if isinstance(o, torch.Tensor):
                flat.append(o)
            elif isinstance(o, (list, tuple)):
                for item in o:
                    visit(item)

        visit(out)
        return tuple(flat)


def _pair_first(size):
    return size[0] if isinstance(size, (tuple, list)) else size


def flops_report(models, args, device, num_proposals, num_dets):
    """Per-RoI MACs of the heads and the MaskIoU share of the model."""
    ours = models['ours']
    rh = ours.roi_head
    iou = rh.mask_iou_head
    mask_ext = rh.mask_roi_extractor
    bbox_ext = rh.bbox_roi_extractor
    c_mask = mask_ext.out_channels
    s_mask = _pair_first(mask_ext.roi_layers[0].output_size)
    c_bbox = bbox_ext.out_channels
    s_bbox = _pair_first(bbox_ext.roi_layers[0].output_size)
    mask_size = iou.mask_size
    feat = torch.randn(1, c_mask, s_mask, s_mask, device=device)
    parts = dict(
        maskiou_head=(_Flat(iou), (feat, torch.rand(
            1, mask_size, mask_size, device=device))),
        mask_head=(_Flat(rh.mask_head), (feat, )),
        bbox_head=(_Flat(rh.bbox_head),
                   (torch.randn(1, c_bbox, s_bbox, s_bbox,
                                device=device), )))
    per_roi = {}
    for key, (mod, inputs) in parts.items():
        mod.eval()
        per_roi[key] = dict(
            hooks=macs_by_hooks(mod, inputs),
            mmengine=macs_by_mmengine(mod, inputs))
    img = torch.randn(1, 3, *args.size, device=device)
    ours.eval()
    with torch.no_grad():
        feats = tuple(ours.extract_feat(img))
    whole = dict(
        backbone_neck=(_Flat(ours, lambda m, x: m.extract_feat(x)), (img, )),
        rpn_head=(_Flat(ours.rpn_head, lambda m, *x: m(tuple(x))), feats))
    image_level = {}
    for key, (mod, inputs) in whole.items():
        mod.eval()
        image_level[key] = dict(
            hooks=macs_by_hooks(mod, inputs),
            mmengine=macs_by_mmengine(mod, inputs))
    model = {}
    for src in ('hooks', 'mmengine'):
        parts_total = dict(
            backbone_neck=image_level['backbone_neck'][src],
            rpn_head=image_level['rpn_head'][src],
            bbox_head=per_roi['bbox_head'][src] * num_proposals,
            mask_head=per_roi['mask_head'][src] * num_dets,
            maskiou_head=per_roi['maskiou_head'][src] * num_dets)
        total = sum(parts_total.values())
        mask_rcnn = total - parts_total['maskiou_head']
        model[src] = dict(
            parts=parts_total,
            total=total,
            share=parts_total['maskiou_head'] / total,
            over_mask_rcnn=parts_total['maskiou_head'] / mask_rcnn)
    return dict(
        per_roi=per_roi,
        image_level=image_level,
        model=model,
        num_proposals=num_proposals,
        num_dets=num_dets,
        shapes=dict(
            mask_feat=[c_mask, s_mask, s_mask],
            mask_size=mask_size,
            bbox_feat=[c_bbox, s_bbox, s_bbox],
            image=list(args.size)))


# ----------------------------------------------------------------------
# memory
def _proc_status_kib(key):
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(key + ':'):
                return int(line.split()[1])
    return None


def _reset_peak_rss():
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
        return True
    except OSError:
        return False


def memory_worker(args):
    """Training memory of one model, in its own process.

    Over the built model and inputs: the peak of two training steps
    (gradients, optimizer state, activations) and what stays resident
    between them (gradients and optimizer state).
    """
    device = torch.device(args.device)
    name = args.mem_worker
    models, _ = build_detectors(
        detector_cfgs(args.config),
        device,
        args.seed,
        args.cls_scale,
        only=name)
    model = models[name]
    data = make_batch(model, args.train_batch, args.size, args.num_gt,
                      args.seed, True)
    step = TrainStep(model, data, args.seed)
    step.snapshot = None  # no resets here
    model.train()
    gc.collect()

    def one_step():
        torch.manual_seed(args.seed)
        step()

    if device.type == 'cuda':
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        one_step()
        torch.cuda.synchronize(device)
        steady = torch.cuda.memory_allocated(device)
        one_step()
        torch.cuda.synchronize(device)
        peak = torch.cuda.max_memory_allocated(device)
        base, steady, peak = (v / 2**20 for v in (base, steady, peak))
        method = 'CUDA max_memory_allocated'
    elif _reset_peak_rss():
        base = _proc_status_kib('VmRSS') / 1024
        one_step()
        steady = _proc_status_kib('VmRSS') / 1024
        one_step()
        peak = _proc_status_kib('VmHWM') / 1024
        method = 'peak RSS (VmHWM, reset by /proc/self/clear_refs)'
    else:  # pragma: no cover
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        one_step()
        steady = base
        one_step()
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        method = 'ru_maxrss'
    result = dict(
        method=method,
        delta_mib=peak - base,
        steady_mib=steady - base,
        base_mib=base)
    print('MEMRESULT ' + json.dumps(result), flush=True)


def bench_memory(args):
    cmd = [sys.executable, osp.abspath(__file__), '--mem-worker']
    common = [
        '--model', args.model, '--device', args.device, '--seed',
        str(args.seed), '--cls-scale',
        str(args.cls_scale), '--size',
        str(args.size[0]),
        str(args.size[1]), '--train-batch',
        str(args.train_batch)
    ]
    if args.smoke:
        common.append('--smoke')
    env = dict(os.environ)
    # a fixed mmap threshold: glibc then returns freed large blocks to the
    # OS at once, so the resident size follows the live tensors
    env.setdefault('MALLOC_MMAP_THRESHOLD_', str(128 * 1024))
    env['PYTHONPATH'] = os.pathsep.join(
        [REPO_ROOT] + [p for p in [env.get('PYTHONPATH')] if p])
    procs, out = {}, {}
    for name in IMPLS:
        proc = subprocess.Popen(
            cmd + [name] + common,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=REPO_ROOT)
        procs[name] = proc
    # the three at once: each measures its own process's memory only
    for name, proc in procs.items():
        stdout, stderr = proc.communicate()
        lines = [
            ln for ln in stdout.splitlines() if ln.startswith('MEMRESULT ')
        ]
        if proc.returncode or not lines:
            raise RuntimeError(f'memory worker {name} failed:\n{stderr}')
        out[name] = json.loads(lines[-1][len('MEMRESULT '):])
    return out


# ----------------------------------------------------------------------
# profile
def profile_ours(models, steps, args, device, top=15):
    from torch.profiler import ProfilerActivity, profile
    ours = models['ours']
    activities = [ProfilerActivity.CPU]
    if device.type == 'cuda':
        activities.append(ProfilerActivity.CUDA)
    texts = {}
    step = steps['ours']
    step.reset()
    step()  # warm
    step.reset()
    with profile(activities=activities) as prof:
        step()
    texts['torch_train'] = prof.key_averages().table(
        sort_by='self_cpu_time_total', row_limit=top, max_name_column_width=40)
    data = make_batch(ours, 1, args.size, args.num_gt, args.seed, False)
    ours.eval()
    set_score_thr(ours, 0.0)
    predict = make_predict(ours, data)
    predict()
    with profile(activities=activities) as prof:
        predict()
    texts['torch_infer'] = prof.key_averages().table(
        sort_by='self_cpu_time_total', row_limit=top, max_name_column_width=40)
    for key, fn in (('cprofile_train', step), ('cprofile_infer', predict)):
        step.reset()
        ours.eval() if key == 'cprofile_infer' else ours.train()
        prof = cProfile.Profile()
        prof.enable()
        fn()
        prof.disable()
        buf = io.StringIO()
        st = pstats.Stats(prof, stream=buf)
        st.strip_dirs().sort_stats('cumulative').print_stats(top + 10)
        lines = buf.getvalue().splitlines()
        start = next((i for i, ln in enumerate(lines) if 'ncalls' in ln), 0)
        texts[key] = '\n'.join(lines[max(0, start - 3):])
    return texts


# ----------------------------------------------------------------------
# report
def other_jobs():
    """Command lines of other training / benchmark processes running now."""
    me = os.getpid()
    found = []
    for pid in os.listdir('/proc') if osp.isdir('/proc') else []:
        if not pid.isdigit() or int(pid) == me:
            continue
        try:
            with open(f'/proc/{pid}/cmdline', 'rb') as f:
                cmd = f.read().replace(b'\0', b' ').decode(errors='replace')
            with open(f'/proc/{pid}/stat') as f:
                ppid = int(f.read().rsplit(')', 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid == me:
            continue
        if any(key in cmd for key in ('train', 'demo.py', 'speed.py',
                                      'pytest', 'test.py')):
            found.append(f'{pid}: {cmd.strip()[:120]}')
    return found


def fmt_ms(st):
    if st['n'] == 1:
        return f"{st['median']:.1f}"
    return f"{st['median']:.1f} ({st['min']:.1f}-{st['max']:.1f})"


def verdict(ratio, limit, noise=0.0):
    if ratio <= limit:
        return 'PASS'
    if ratio <= limit + noise:
        return f'PASS (within noise +-{noise * 100:.0f}%)'
    return 'FAIL'


def evaluate(report):
    rows = report['rows']
    checks = []
    flops = report['flops']['model']['mmengine']
    share = flops['share']
    over = flops['over_mask_rcnn']
    for key in ('infer_b1_100', 'infer_b2_100'):
        r = rows[key]['results']
        overhead = paired_ratio(r['ours'], r['mask_rcnn'])['ratio'] - 1
        checks.append(
            dict(
                name=f'{key}: ours over Mask R-CNN <= 1.1 x MaskIoU FLOPs '
                'share of the MS R-CNN model',
                value=overhead,
                limit=1.1 * share,
                verdict=verdict(overhead, 1.1 * share)))
        checks.append(
            dict(
                name=f'{key}: ours over Mask R-CNN <= 1.1 x MaskIoU FLOPs '
                'over Mask R-CNN (same units)',
                value=overhead,
                limit=1.1 * over,
                verdict=verdict(overhead, 1.1 * over)))
    for key in ('infer_b1_100', 'infer_b2_100', 'infer_b1_default', 'train',
                'infer_mask_branch', 'train_mask_branch'):
        r = rows[key]['results']
        pr = paired_ratio(r['ours'], r['mmdet_ms'])
        checks.append(
            dict(
                name=f'{key}: ours / mmdet MS R-CNN <= 1.0',
                value=pr['ratio'],
                limit=1.0,
                noise=pr['noise'],
                verdict=verdict(pr['ratio'], 1.0, pr['noise'])))
    for kind in TARGET_KINDS:
        r = rows[f'targets_{kind}_512']['results']
        speedup = r['mmdet_ms']['median'] / r['ours']['median']
        checks.append(
            dict(
                name=f'targets_{kind}_512: speed-up over mmdet >= 5x',
                value=speedup,
                limit=5.0,
                verdict='PASS' if speedup >= 5 else 'FAIL'))
    for kind, counts in report['per_roi_loop'].items():
        calls = list(counts.values())
        checks.append(
            dict(
                name=f'no per-RoI Python loop in our MaskIoU head '
                f'({kind}): calls at 64 vs 2048 RoIs',
                value=calls,
                limit='equal',
                verdict='PASS' if len(set(calls)) == 1 else 'FAIL'))
    return checks


def markdown(report):
    meta = report['meta']
    rows = report['rows']
    lines = [
        f"Machine: {meta['machine']}; torch {meta['torch']}, "
        f"{meta['threads']} threads, device {meta['device']}.",
        f"Model: {meta['config']} ({meta['num_classes']} classes, random "
        f"weights shared), input {meta['size'][0]}x{meta['size'][1]}, "
        f"training batch {meta['train_batch']}, {meta['num_gt']} GT "
        'instances/image, bbox classifier weights x'
        f"{meta['cls_scale']:g} (peaked class scores), Soft-NMS, "
        'max_per_img 100, SGD (lr 0.02, momentum 0.9).',
        f"Medians over {meta['repeat']} runs (min-max in brackets) after "
        f"{meta['warmup']} warm-up runs (the second and third inference rows "
        'run on warm models without), the models '
        'interleaved in a rotating order; ratios: median of the per-round '
        'ratios (+- half their range).',
        f"Command: `{meta['command']}`",
        ''
    ]
    if meta.get('cuda_nms_roialign'):
        lines += [
            f"CUDA NMS and RoIAlign kernels: {meta['cuda_nms_roialign']}, "
            'the same for all three models; Soft-NMS runs on the CPU in '
            'mmcv.', ''
        ]
    if meta['other_jobs']:
        lines += [
            '**Other jobs were running during the measurement:** ' +
            '; '.join(meta['other_jobs']), ''
        ]
    head = ('| measurement | unit | ' +
            ' | '.join(IMPL_NAMES[n] for n in IMPLS) +
            ' | ours / Mask R-CNN | ours / mmdet MS |')
    lines += [head, '|' + '---|' * (len(IMPLS) + 4)]
    for key, row in rows.items():
        if key.startswith('targets_'):
            continue
        res = row['results']
        cells = [res[n] and fmt_ms(res[n]) if n in res else '-'
                 for n in IMPLS]
        ratios = []
        for base in ('mask_rcnn', 'mmdet_ms'):
            if base in res and 'ours' in res:
                pr = paired_ratio(res['ours'], res[base])
                ratios.append(f"{pr['ratio']:.3f}" + (
                    f" (+-{pr['noise']:.3f})" if pr['ratios'] else ''))
            else:
                ratios.append('-')
        lines.append(f"| {row['label']} | {row['unit']} | " +
                     ' | '.join(cells + ratios) + ' |')
    info = report['info']
    lines += [
        '',
        f"Detections per image at score_thr 0: "
        f"{info['infer_b1_100']['ours']['dets_per_img']:.0f}; at 0.05: "
        f"{info['infer_b1_default']['ours']['dets_per_img']:.1f}; "
        f"proposals into the bbox head: "
        f"{info['infer_b1_100']['ours']['proposals']}; positive RoIs per "
        f"training iteration: {info['train']['ours']['pos_rois']} "
        '(identical for the three models: '
        f"{info['same_work']}).", ''
    ]
    mem = report.get('memory_method')
    if mem:
        mem_res = rows['train_peak_mem']['results']

        def mib(key):
            return ', '.join(f"{IMPL_NAMES[n]} {mem_res[n][key]:.0f}"
                             for n in IMPLS)

        lines += [
            f'Training memory: {mem}, in a fresh process per model: the peak '
            'of two training steps minus the resident size of the built '
            'model and inputs (so gradients, SGD momentum and activations). '
            f"Resident between the steps (MiB): {mib('steady_mib')}; the "
            f"built model and inputs (MiB): {mib('base_mib')}.", ''
        ]
    lines += [
        '| MaskIoU targets | ours (ms) | mmdet built-in (ms) | speed-up |',
        '|---|---|---|---|'
    ]
    for key, row in rows.items():
        if not key.startswith('targets_'):
            continue
        res = row['results']
        lines.append(
            f"| {row['label'][len('MaskIoU targets, '):]} | "
            f"{fmt_ms(res['ours'])} | {fmt_ms(res['mmdet_ms'])} | "
            f"{res['mmdet_ms']['median'] / res['ours']['median']:.1f}x |")
    fl = report['flops']
    sh = fl['shapes']
    lines += [
        '',
        f"FLOPs in GMACs (1 multiply-add = 1 FLOP, as in the paper); "
        f"mask feature {sh['mask_feat']}, mask {sh['mask_size']}x"
        f"{sh['mask_size']}, bbox feature {sh['bbox_feat']}, image "
        f"{sh['image'][0]}x{sh['image'][1]}, {fl['num_proposals']} "
        f"proposals, {fl['num_dets']} detections.", '',
        '| part | by layer shapes | mmengine |', '|---|---|---|'
    ]
    for key, val in fl['per_roi'].items():
        lines.append(f'| {key} per RoI | {val["hooks"] / 1e9:.4f} | '
                     f'{val["mmengine"] / 1e9:.4f} |')
    for key in fl['model']['hooks']['parts']:
        lines.append(f"| {key} (model) | "
                     f"{fl['model']['hooks']['parts'][key] / 1e9:.2f} | "
                     f"{fl['model']['mmengine']['parts'][key] / 1e9:.2f} |")
    for key, label in (('total', 'MS R-CNN total'), ):
        lines.append(f"| {label} | {fl['model']['hooks'][key] / 1e9:.2f} | "
                     f"{fl['model']['mmengine'][key] / 1e9:.2f} |")
    lines.append(f"| MaskIoU share of MS R-CNN | "
                 f"{fl['model']['hooks']['share'] * 100:.1f}% | "
                 f"{fl['model']['mmengine']['share'] * 100:.1f}% |")
    lines.append(f"| MaskIoU FLOPs over Mask R-CNN | "
                 f"{fl['model']['hooks']['over_mask_rcnn'] * 100:.1f}% | "
                 f"{fl['model']['mmengine']['over_mask_rcnn'] * 100:.1f}% |")
    lines += ['', '| target | value | limit | verdict |', '|---|---|---|---|']
    for chk in report['checks']:
        value = chk['value']
        if isinstance(value, float):
            value = f'{value:.3f}'
        limit = chk['limit']
        if isinstance(limit, float):
            limit = f'{limit:.3f}'
        lines.append(f"| {chk['name']} | {value} | {limit} | "
                     f"{chk['verdict']} |")
    bd = report.get('train_breakdown', {})
    if bd:
        lines += [
            '', '| MaskIoU parts of a training step (ms) | ours | '
            'mmdet built-in |', '|---|---|---|'
        ]
        for part in ('fwd_bwd', 'targets', 'hooks'):
            cells = [
                fmt_ms(bd[n][part]) if n in bd and part in bd[n] else '-'
                for n in ('ours', 'mmdet_ms')
            ]
            lines.append(f'| {part} | ' + ' | '.join(cells) + ' |')
        cells = [str(bd[n]['pos_rois']) if n in bd else '-'
                 for n in ('ours', 'mmdet_ms')]
        lines.append('| positive RoIs | ' + ' | '.join(cells) + ' |')
        for num, st in bd.get('ours_sweep', {}).items():
            lines.append(f'| fwd_bwd at {num} RoIs (random inputs) | '
                         f'{fmt_ms(st)} | - |')
    for key, phases in report.get('phases', {}).items():
        names = list(
            dict.fromkeys(k for n in ('ours', 'mmdet_ms', 'mask_rcnn')
                          if n in phases for k in phases[n]))
        lines += [
            '', f'| phases, {key} (ms, median) | ' +
            ' | '.join(IMPL_NAMES[n] for n in IMPLS) + ' |',
            '|' + '---|' * (len(IMPLS) + 1)
        ]
        for ph in names:
            cells = [
                f'{phases[n][ph]:.1f}' if ph in phases.get(n, {}) else '-'
                for n in IMPLS
            ]
            indent = '&nbsp;' * (len(ph) - len(ph.lstrip()))
            lines.append(f'| {indent}{ph.lstrip()} | ' + ' | '.join(cells) +
                         ' |')
    for key, text in report.get('profile', {}).items():
        lines += ['', f'Profile `{key}` (our model):', '', '```', text, '```']
    return '\n'.join(lines) + '\n'


def print_summary(report):
    print(markdown(report))
    for chk in report['checks']:
        print(f"{chk['verdict'].split()[0]}: {chk['name']} "
              f"(value {chk['value']}, limit {chk['limit']})")


def run(args):
    device = torch.device(args.device)
    t_start = time.time()

    def log(msg):
        print(f'[speed {time.time() - t_start:6.1f}s] {msg}', flush=True)

    jobs_before = other_jobs()
    cfgs = detector_cfgs(args.config)
    models, shared = build_detectors(cfgs, device, args.seed, args.cls_scale)
    num_classes = num_classes_of(models['ours'])
    report = dict(rows={}, info={})

    def add_rows(key_results):
        for key, res in key_results.items():
            spec = next(s for s in ROW_SPECS if s[0] == key)
            report['rows'][key] = dict(
                label=spec[1], unit=spec[2], results=res)

    log('inference ...')
    infer = {}
    for i, (key, batch, thr) in enumerate((('infer_b1_100', 1, 0.0),
                                           ('infer_b2_100', 2, 0.0),
                                           ('infer_b1_default', 1, 0.05))):
        # the models are warm after the first row
        infer[key], report['info'][key] = bench_inference(
            models, args, device, batch, thr, args.seed + 1,
            args.warmup if i == 0 else 0)
    add_rows(infer)
    log('training ...')
    train, report['info']['train'], steps = bench_train(models, args, device)
    add_rows(dict(train=train))
    log('mask branch alone ...')
    add_rows(bench_mask_branch(models, steps, args, device))
    work = [(report['info']['train'][n]['pos_rois'],
             report['info']['infer_b1_100'][n]['proposals'],
             report['info']['infer_b1_default'][n]['dets_per_img'])
            for n in IMPLS]
    report['info']['same_work'] = 'yes' if len(set(work)) == 1 else str(work)
    log('MaskIoU targets ...')
    add_rows(bench_targets(args, device))
    report['per_roi_loop'] = per_roi_loop_check(args, device)
    log('breakdowns ...')
    report['train_breakdown'] = train_breakdown(models, steps, args, device)
    report['phases'] = phase_breakdown(models, args, device, steps)
    log('FLOPs ...')
    info_b1 = report['info']['infer_b1_100']['ours']
    report['flops'] = flops_report(models, args, device,
                                   info_b1['proposals'],
                                   int(round(info_b1['dets_per_img'])))
    if args.profile:
        log('profile ...')
        report['profile'] = profile_ours(models, steps, args, device)
    del models, steps
    gc.collect()
    if args.skip_memory:
        mem = {}
    else:
        log('peak memory (subprocesses) ...')
        mem = bench_memory(args)
    if mem:
        report['memory_method'] = next(iter(mem.values()))['method']
        report['rows']['train_peak_mem'] = dict(
            label=next(sp[1] for sp in ROW_SPECS if sp[0] == 'train_peak_mem'),
            unit='MiB',
            results={
                n: dict(
                    median=v['delta_mib'],
                    min=v['delta_mib'],
                    max=v['delta_mib'],
                    q1=v['delta_mib'],
                    q3=v['delta_mib'],
                    n=1,
                    samples=[v['delta_mib']],
                    steady_mib=v['steady_mib'],
                    base_mib=v['base_mib'])
                for n, v in mem.items()
            })
    report['checks'] = evaluate(report)
    jobs_after = other_jobs()
    report['meta'] = dict(
        machine=(f'{platform.machine()} {platform.processor() or ""}'
                 f' {os.cpu_count()} CPUs'.replace('  ', ' ') +
                 (f', {torch.cuda.get_device_name(device)}'
                  if device.type == 'cuda' else ', no GPU used')),
        torch=torch.__version__,
        threads=torch.get_num_threads(),
        device=str(device),
        cuda_nms_roialign=args.cuda_ops,
        config=osp.relpath(args.config, REPO_ROOT),
        num_classes=num_classes,
        size=list(args.size),
        train_batch=args.train_batch,
        num_gt=args.num_gt,
        cls_scale=args.cls_scale,
        repeat=args.repeat,
        warmup=args.warmup,
        shared_weights={n: f'{v} unexpected keys' for n, v in shared.items()},
        command='python ' + ' '.join(
            [osp.relpath(osp.abspath(__file__), REPO_ROOT)] +
            sys.argv[1:]) if args.argv is None else 'speed.main(' + repr(
                args.argv) + ')',
        other_jobs=sorted(set(jobs_before) | set(jobs_after)),
        loadavg=list(os.getloadavg()),
        wall_s=time.time() - t_start)
    # rows in the documented order
    report['rows'] = {
        s[0]: report['rows'][s[0]]
        for s in ROW_SPECS if s[0] in report['rows']
    }
    return report


def choose_cuda_ops():
    """mmcv's CUDA kernels, or torchvision's where mmcv has none."""
    here = osp.dirname(osp.abspath(__file__))
    if here not in sys.path:
        sys.path.insert(0, here)
    import torchvision_ops
    if torchvision_ops.mmcv_has_cuda_ops():
        return 'mmcv'
    torchvision_ops.patch_mmcv_ops()
    return 'torchvision (mmcv built without CUDA ops)'


def main(argv=None):
    args = parse_args(argv)
    args.argv = argv
    threads = torch.get_num_threads()
    if args.smoke:  # robust on a busy machine; no timing is used
        torch.set_num_threads(1)
    try:
        init_scope()
        args.cuda_ops = choose_cuda_ops() if args.device == 'cuda' else None
        with quiet_logs():
            if args.mem_worker:
                memory_worker(args)
                return None
            report = run(args)
    finally:
        torch.set_num_threads(threads)
    print_summary(report)
    if args.out_md:
        os.makedirs(osp.dirname(osp.abspath(args.out_md)), exist_ok=True)
        with open(args.out_md, 'w') as f:
            f.write(markdown(report))
    if args.out_json:
        os.makedirs(osp.dirname(osp.abspath(args.out_json)), exist_ok=True)
        with open(args.out_json, 'w') as f:
            json.dump(report, f, indent=1)
    return report


if __name__ == '__main__':
    main()
