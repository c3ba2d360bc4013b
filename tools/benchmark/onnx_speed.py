#!/usr/bin/env python
"""ONNX Runtime vs PyTorch: inference latency per image on CPU.

Our MS R-CNN (random weights, the classifier sharpened as in
``speed.py``) is exported through mmdeploy with our rewriters
(``configs/deploy/instance-seg-scoring_onnxruntime_dynamic.py``) and
timed against itself in PyTorch on the same preprocessed image, one image
a call, the runs interleaved (medians over ``--repeat``):

* ``pytorch_soft_nms``: ``model.predict`` with the config's Soft-NMS;
* ``pytorch_hard_nms``: ``model.predict`` with hard NMS, what the graph
  runs (same results as the two ONNX Runtime rows);
* ``ort_graph``: ONNX Runtime's ``session.run`` alone (boxes, labels, RoI
  masks, MaskIoU);
* ``ort_end_to_end``: ``session.run`` plus pasting the masks into the
  image, the same result as ``model.predict``.

PyTorch and ONNX Runtime get the same number of intra-op threads
(``--threads``); ONNX Runtime's threads do not spin between runs (they
would slow the interleaved PyTorch runs down). Needs the deploy extras
(``pip install -e .[deploy]``).

Examples::

    python tools/benchmark/onnx_speed.py                # demo, 128 px
    python tools/benchmark/onnx_speed.py --model r50    # R50-FPN, 512 px
"""
import argparse
import copy
import json
import os
import os.path as osp
import platform
import sys
import tempfile

import torch

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEPLOY_CFG = osp.join(
    REPO_ROOT, 'configs/deploy/instance-seg-scoring_onnxruntime_dynamic.py')
PRESETS = dict(
    demo=dict(
        config='configs/demo/ms-rcnn_r18_fpn_shapes.py',
        size=(128, 128),
        repeat=20,
        warmup=3),
    r50=dict(
        config='configs/ms_rcnn/ms-rcnn_r50_fpn_1x_coco.py',
        size=(512, 512),
        repeat=5,
        warmup=1))
ROWS = ('pytorch_soft_nms', 'pytorch_hard_nms', 'ort_graph',
        'ort_end_to_end')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--model', choices=sorted(PRESETS), default='demo')
    parser.add_argument('--size', type=int, nargs=2, metavar=('H', 'W'))
    parser.add_argument('--repeat', type=int)
    parser.add_argument('--warmup', type=int)
    parser.add_argument(
        '--threads',
        type=int,
        default=torch.get_num_threads(),
        help='intra-op threads of both (default: torch\'s)')
    parser.add_argument('--cls-scale', type=float, default=30.0)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--out-json', help='write every number as JSON')
    args = parser.parse_args(argv)
    preset = PRESETS[args.model]
    for key in ('size', 'repeat', 'warmup'):
        if getattr(args, key) is None:
            setattr(args, key, preset[key])
    args.config = osp.join(REPO_ROOT, preset['config'])
    return args


def hard_nms(model):
    model = copy.deepcopy(model)
    nms = model.roi_head.test_cfg.nms
    model.roi_head.test_cfg.nms = dict(
        type='nms', iou_threshold=nms.iou_threshold)
    return model


def run(args):
    sys.path.insert(0, REPO_ROOT)
    from mmengine.config import Config

    from mmdet_msrcnn.deployment import ORTMaskScoringDetector, export_model
    from mmdet_msrcnn.deployment.runtime import to_instances
    from msrcnn_benchmark.detectors import (build_detectors, detector_cfgs,
                                            init_scope, quiet_logs)
    from msrcnn_benchmark.inputs import make_batch
    from msrcnn_benchmark.timing import bench, stats
    init_scope()
    torch.set_num_threads(args.threads)
    cfg = Config.fromfile(args.config)
    with quiet_logs():
        models, _ = build_detectors(
            detector_cfgs(args.config),
            torch.device('cpu'),
            args.seed,
            args.cls_scale,
            only='ours')
    soft = models['ours'].eval()
    hard = hard_nms(soft)
    inputs, samples = make_batch(soft, 1, tuple(args.size), 4, args.seed,
                                 False)
    data = dict(inputs=inputs, data_samples=samples)
    onnx_file = osp.join(tempfile.mkdtemp(), 'end2end.onnx')
    with quiet_logs():
        export_model(hard, cfg, DEPLOY_CFG, copy.deepcopy(data), onnx_file)
    # no spinning: ONNX Runtime's idle threads would keep the cores busy
    # while the PyTorch runs interleaved with its own run
    det = ORTMaskScoringDetector(
        onnx_file,
        cfg,
        DEPLOY_CFG,
        num_threads=args.threads,
        allow_spinning=False)
    meta = samples[0].metainfo

    def predict(model):

        def fn():
            with torch.no_grad():
                return model.predict(inputs, samples, rescale=True)

        return fn

    def graph():
        return det.forward(inputs)

    def end_to_end():
        return to_instances(det.forward(inputs), meta, det.rcnn_test_cfg,
                            det.mask_score_as_score)

    fns = dict(
        pytorch_soft_nms=predict(soft),
        pytorch_hard_nms=predict(hard),
        ort_graph=graph,
        ort_end_to_end=end_to_end)
    times, last = bench(fns, args.repeat, args.warmup, torch.device('cpu'))
    dets = dict(
        pytorch_soft_nms=len(last['pytorch_soft_nms'][0].pred_instances),
        pytorch_hard_nms=len(last['pytorch_hard_nms'][0].pred_instances),
        ort_graph=int(last['ort_graph']['dets'].shape[1]),
        ort_end_to_end=len(last['ort_end_to_end']))
    return dict(
        model=args.model,
        size=list(args.size),
        threads=args.threads,
        repeat=args.repeat,
        warmup=args.warmup,
        torch=torch.__version__,
        onnxruntime=__import__('onnxruntime').__version__,
        cpu=platform.processor() or platform.machine(),
        cpu_count=os.cpu_count(),
        rows={
            name: dict(ms=stats(times[name], 1e3), dets=dets[name])
            for name in ROWS
        })


def table(result):
    base = result['rows']['pytorch_hard_nms']['ms']['median']
    lines = [
        f"MS R-CNN ({result['model']}, {result['size'][0]}x"
        f"{result['size'][1]}), CPU, {result['threads']} thread(s), "
        f"median of {result['repeat']}",
        '',
        '| run | ms / image (median) | q1-q3 | detections | vs PyTorch '
        '(hard NMS) |',
        '| --- | ---: | ---: | ---: | ---: |',
    ]
    for name in ROWS:
        row = result['rows'][name]
        ms = row['ms']
        lines.append(f"| {name} | {ms['median']:.1f} | {ms['q1']:.1f}-"
                     f"{ms['q3']:.1f} | {row['dets']} | "
                     f"{ms['median'] / base:.2f}x |")
    return '\n'.join(lines)


def main(argv=None):
    args = parse_args(argv)
    result = run(args)
    print(table(result))
    if args.out_json:
        with open(args.out_json, 'w') as f:
            json.dump(result, f, indent=1)
    return result


if __name__ == '__main__':
    main()
