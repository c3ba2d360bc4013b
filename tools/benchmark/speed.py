#!/usr/bin/env python
"""Side-by-side speed benchmark of Mask Scoring R-CNN.

Three detectors are built in ONE process from our MS R-CNN config and share
the same random weights for every common part
(:mod:`msrcnn_benchmark.detectors`):

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
* FLOPs (multiply-adds) of the heads per RoI and of the whole model;
* with ``--model demo`` (or ``--smoke``): one training iteration of each
  scoring option (``configs/ranking``, the frozen upgrade) against Mask
  R-CNN and the paper's training, and of the scored single-stage hosts
  against the same host without scoring (:mod:`msrcnn_benchmark.train_cost`).

The measurements live in :mod:`msrcnn_benchmark`; this script parses
the arguments, runs them in order and writes the report.

Examples::

    python tools/benchmark/speed.py                 # R50-FPN, 512x512
    python tools/benchmark/speed.py --model demo    # slim R18 demo model
    python tools/benchmark/speed.py --smoke --out-json /tmp/speed.json
"""
import argparse
import gc
import json
import os
import os.path as osp
import sys
import time

import torch

from msrcnn_benchmark.breakdown import phase_breakdown, train_breakdown
from msrcnn_benchmark.detectors import (build_detectors, detector_cfgs,
                                              init_scope, num_classes_of,
                                              quiet_logs)
from msrcnn_benchmark.latency import (bench_inference, bench_mask_branch,
                                            bench_train)
from msrcnn_benchmark.macs import flops_report
from msrcnn_benchmark.memory import (bench_memory, memory_row,
                                           memory_worker)
from msrcnn_benchmark.profiling import profile_ours
from msrcnn_benchmark.report import (evaluate, markdown, other_jobs,
                                           print_summary, run_meta)
# ROW_SPECS: the rows of the table, for the tests (speed.ROW_SPECS)
from msrcnn_benchmark.rows import ROW_SPECS  # noqa: F401
from msrcnn_benchmark.rows import IMPLS, in_table_order, make_row
from msrcnn_benchmark.targets import bench_targets, per_roi_loop_check
from msrcnn_benchmark.train_cost import bench_train_cost
from msrcnn_benchmark.torchvision_ops import choose_cuda_ops

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

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
#: the inference rows: (key, batch, score_thr)
INFER_ROWS = (('infer_b1_100', 1, 0.0), ('infer_b2_100', 2, 0.0),
              ('infer_b1_default', 1, 0.05))


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
    parser.add_argument(
        '--skip-train-cost',
        action='store_true',
        help='do not time the training options and scored hosts '
        '(demo-size configs; run with --model demo or --smoke)')
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


def run(args):
    device = torch.device(args.device)
    t_start = time.time()

    def log(msg):
        print(f'[speed {time.time() - t_start:6.1f}s] {msg}', flush=True)

    jobs_before = other_jobs()
    cfgs = detector_cfgs(args.config)
    models, shared = build_detectors(cfgs, device, args.seed, args.cls_scale)
    num_classes = num_classes_of(models['ours'])
    rows, info = {}, {}
    report = dict(rows=rows, info=info)
    log('inference ...')
    for i, (key, batch, thr) in enumerate(INFER_ROWS):
        # the models are warm after the first row
        res, info[key] = bench_inference(models, args, device, batch, thr,
                                         args.seed + 1,
                                         args.warmup if i == 0 else 0)
        rows[key] = make_row(key, res)
    log('training ...')
    train, info['train'], steps = bench_train(models, args, device)
    rows['train'] = make_row('train', train)
    log('mask branch alone ...')
    for key, res in bench_mask_branch(models, steps, args, device).items():
        rows[key] = make_row(key, res)
    work = [
        (info['train'][n]['pos_rois'], info['infer_b1_100'][n]['proposals'],
         info['infer_b1_default'][n]['dets_per_img']) for n in IMPLS
    ]
    info['same_work'] = 'yes' if len(set(work)) == 1 else str(work)
    log('MaskIoU targets ...')
    for key, res in bench_targets(args, device).items():
        rows[key] = make_row(key, res)
    report['per_roi_loop'] = per_roi_loop_check(args, device)
    log('breakdowns ...')
    report['train_breakdown'] = train_breakdown(models, steps, args, device)
    report['phases'] = phase_breakdown(models, args, device, steps)
    log('FLOPs ...')
    info_b1 = info['infer_b1_100']['ours']
    report['flops'] = flops_report(models, args, device, info_b1['proposals'],
                                   int(round(info_b1['dets_per_img'])))
    if args.model == 'demo' or args.smoke:
        if not args.skip_train_cost:
            log('training cost of the options and hosts ...')
            report['train_cost'] = bench_train_cost(args, device, REPO_ROOT)
    if args.profile:
        log('profile ...')
        report['profile'] = profile_ours(models, steps, args, device)
    del models, steps
    gc.collect()
    mem = {}
    if not args.skip_memory:
        log('peak memory (subprocesses) ...')
        mem = bench_memory(args, osp.abspath(__file__), REPO_ROOT)
    if mem:
        report['memory_method'] = next(iter(mem.values()))['method']
        rows['train_peak_mem'] = memory_row(mem)
    report['checks'] = evaluate(report)
    script = osp.relpath(osp.abspath(__file__), REPO_ROOT)
    command = ('python ' + ' '.join([script] + sys.argv[1:])
               if args.argv is None else f'speed.main({args.argv!r})')
    report['meta'] = run_meta(args, device,
                              osp.relpath(args.config, REPO_ROOT), num_classes,
                              shared, command,
                              sorted(set(jobs_before) | set(other_jobs())),
                              time.time() - t_start)
    report['rows'] = in_table_order(rows)
    return report


def _write(path, text):
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    with open(path, 'w') as f:
        f.write(text)


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
        _write(args.out_md, markdown(report))
    if args.out_json:
        _write(args.out_json, json.dumps(report, indent=1))
    return report


if __name__ == '__main__':
    main()
