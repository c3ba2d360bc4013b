"""Paper ablations (Tables 4, 5 and 6) on the embedded shapes data set.

    python tools/benchmark/ablation.py                 # all, 12 epochs each
    python tools/benchmark/ablation.py --configs \\
        configs/ablation/ms-rcnn_r18_fpn_shapes_tau-0.5.py
    python tools/benchmark/ablation.py --dry-run       # list, train nothing
    python tools/benchmark/ablation.py --report-only   # table of what exists
    python tools/benchmark/ablation.py --epochs 1 --num-train 8 --num-val 8
    python tools/benchmark/ablation.py --configs \\
        configs/upgrade/ms-rcnn_r18_fpn_shapes_frozen-upgrade.py \\
        --upgrade-from work_dirs/ablation/mask-rcnn_r18_fpn_shapes/epoch_12.pth

Every config (default: all of ``configs/ablation`` and the base
``configs/demo/ms-rcnn_r18_fpn_shapes.py``, which is Table 4 (a), Table 5 #1
and Table 6 "all positive RoIs") is trained and evaluated through
``tools/demo.py``'s ``build_cfg`` / ``run_one`` with the same seed. Each
writes ``<work-dir>/<config>/metrics.json``; the tables (setting | AP | AP50
| AP75, in %) are printed, and written as markdown (``--out-md``) and json
(``<work-dir>/ablation_results.json``).

AP is the segm AP ranked by the mask score, the quantity the paper
ablates, from ``MaskQualityMetric`` (``mask_quality/segm_*``, configurable
``max_dets``); ``--ap-source coco`` takes CocoMetric's ``coco/segm_*``,
which ranks by ``mask_scores`` too but with pycocotools' maxDets.
"""
import argparse
import glob
import os.path as osp
import time

from msrcnn_benchmark import results as bench_results
from msrcnn_benchmark import runs

TOOLS = osp.dirname(osp.dirname(osp.abspath(__file__)))
REPO = osp.dirname(TOOLS)
BASE = 'ms-rcnn_r18_fpn_shapes'
BASE_CONFIG = osp.join(REPO, 'configs/demo', BASE + '.py')
ABLATION_DIR = osp.join(REPO, 'configs/ablation')

#: (title, [(config name, setting)]) in the paper's order.
TABLES = [
    ('Table 4: MaskIoU head input', [
        (BASE, '(a) target mask, concat RoI feature [base]'),
        (BASE + '_input-multiply', '(b) target mask x RoI feature'),
        (BASE + '_input-concat-all-classes',
         '(c) all masks, concat RoI feature'),
        (BASE + '_input-hires-feature',
         '(d) target mask, concat 28x28 RoI feature'),
        (BASE + '_input-mask-only', '(e) target mask only'),
        (BASE + '_input-feature-only', '(f) RoI feature only'),
    ]),
    ('Table 5: regressed outputs', [
        (BASE, '#1 ground-truth class [base]'),
        (BASE + '_target-all-classes', '#2 all classes (others 0)'),
        (BASE + '_target-present-classes', '#3 classes present in the RoI'),
    ]),
    ('Table 6: training RoIs', [
        (BASE, 'all positive RoIs [base]'),
        (BASE + '_tau-0', 'tau = 0 (IoU > 0)'),
        (BASE + '_tau-0.3', 'tau = 0.3'),
        (BASE + '_tau-0.5', 'tau = 0.5'),
        (BASE + '_tau-0.7', 'tau = 0.7'),
    ]),
]

AP_KEYS = {
    'mask_quality':
    ('mask_quality/segm_mAP', 'mask_quality/segm_mAP_50',
     'mask_quality/segm_mAP_75'),
    'coco': ('coco/segm_mAP', 'coco/segm_mAP_50', 'coco/segm_mAP_75'),
}


def default_configs():
    """The base demo config and every config of configs/ablation."""
    return [BASE_CONFIG] + sorted(glob.glob(osp.join(ABLATION_DIR, '*.py')))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--configs', nargs='+', help='default: all')
    parser.add_argument('--seed', type=int, default=0)
    runs.add_run_args(parser, osp.join(REPO, 'data/shapes'),
                      osp.join(REPO, 'work_dirs/ablation'))
    parser.add_argument(
        '--upgrade-from',
        metavar='CHECKPOINT',
        help='train only the scorer of each config, starting from this '
        'trained detector, as tools/upgrade_scoring.py does (frozen '
        'upgrade; stored as extra.upgrade_from)')
    parser.add_argument(
        '--ap-source', choices=sorted(AP_KEYS), default='mask_quality')
    parser.add_argument(
        '--dry-run',
        action='store_true',
        help='build every config and print the empty tables; train nothing')
    parser.add_argument(
        '--report-only',
        action='store_true',
        help='train nothing: tabulate the metrics.json files that fit '
        '(as --skip-existing would reuse them); the others stay "-"')
    parser.add_argument(
        '--out-md',
        help='markdown tables (default: '
        '<work-dir>/ablation_results.md)')
    return parser.parse_args(argv)


def rescoring_cells(metrics: dict) -> list:
    """What the MaskIoU head of one trained model does, free of seed noise.

    The AP and AP75 gained by ranking the model's masks by the mask score
    instead of the classification score (``segm_*`` minus ``score_segm_*``
    of ``MaskQualityMetric``, in points; signed), and the Pearson
    correlation of its MaskIoU estimate with the true MaskIoU over the
    detections that hit an object of their class.
    """
    cells = []
    for stat in ('mAP', 'mAP_75'):
        ranked = metrics.get(f'mask_quality/segm_{stat}')
        by_cls = metrics.get(f'mask_quality/score_segm_{stat}')
        if ranked is None or by_cls is None:
            cells.append('-')
        else:
            cells.append(f'{100 * (ranked - by_cls):+.1f}')
    cells.append(
        bench_results.fmt(metrics.get('mask_quality/pearson_iou_hits'), 3, 1))
    return cells


def build_tables(results, ap_source='mask_quality'):
    """Text and markdown tables of the measured configs.

    The paper's columns (setting | AP | AP50 | AP75), then
    :func:`rescoring_cells`.

    Args:
        results (dict): Config name -> row of ``runs.run_config``
            (``None`` for not yet measured).
        ap_source (str): A key of :data:`AP_KEYS`.

    Returns:
        tuple[str, str]: Plain text and markdown of all tables; configs
        outside :data:`TABLES` go to an "Other configs" table.
    """
    header = ['setting', 'AP', 'AP50', 'AP75', 'AP - cls-ranked AP',
              'AP75 - cls-ranked AP75', 'MaskIoU Pearson, hits']
    keys = AP_KEYS[ap_source]
    known = {name for _, rows in TABLES for name, _ in rows}
    tables = list(TABLES)
    others = [(n, n) for n in results if n not in known]
    if others:
        tables.append(('Other configs', others))
    texts, mds = [], []
    for title, settings in tables:
        rows = []
        for name, label in settings:
            if name not in results:
                continue
            row = results[name]
            metrics = row['metrics'] if row else {}
            rows.append([label] +
                        [bench_results.fmt(metrics.get(k))
                         for k in keys] + rescoring_cells(metrics))
        if rows:
            text, md = bench_results.render_table(header, rows, title)
            texts.append(text)
            mds.append(md)
    return '\n\n'.join(texts), '\n\n'.join(mds)


def upgrade_extra(args):
    """What a frozen upgrade's row stores in ``extra`` (None without)."""
    return dict(upgrade_from=args.upgrade_from) if args.upgrade_from else None


def upgrade_kwargs(args) -> dict:
    """``run_config`` arguments of a frozen upgrade (none without one)."""
    if not args.upgrade_from:
        return {}
    from mmdet_msrcnn.engine.scorer_upgrade import configure_scorer_upgrade
    if not osp.isfile(args.upgrade_from):
        raise SystemExit(f'--upgrade-from {args.upgrade_from}: no such '
                         'checkpoint; train the detector first.')
    return dict(
        extra=upgrade_extra(args),
        prepare_cfg=lambda cfg: configure_scorer_upgrade(
            cfg, args.upgrade_from))


def main(argv=None):
    args = parse_args(argv)
    if args.report_only:
        args.skip_existing = True
    runs.setup_registries()
    demo = runs.load_script(osp.join(TOOLS, 'demo.py'))
    from mmdet_msrcnn.synthetic import generate_shapes_dataset
    info = generate_shapes_dataset(args.data_root, seed=0)
    print(f"shapes data set: {info['data_root']} "
          f"({'written' if info['generated'] else 'up to date'})")
    configs = args.configs or default_configs()
    results = {}
    start = time.time()
    for config in configs:
        name = runs.config_name(config)
        if args.dry_run:
            cfg = demo.build_cfg(config, args)
            head = cfg.model.roi_head.get('mask_iou_head', {})
            print(f'{name}: epochs={cfg.train_cfg.max_epochs} '
                  f"input_mode={head.get('input_mode', 'concat')} "
                  f"target_mode={head.get('target_mode', 'gt_class')} "
                  f"iou_thr={head.get('iou_thr')} -> {cfg.work_dir}")
            results[name] = None
            continue
        path = osp.join(args.work_dir, name, 'metrics.json')
        row = runs.reusable_run(path, args, args.seed, upgrade_extra(args))
        if row is not None:
            print(f'{name}: reusing {path}')
        elif args.report_only:
            print(f'{name}: not measured (no fitting {path})')
        else:
            row = runs.run_config(demo, config, args, args.num_train,
                                  args.num_val, **upgrade_kwargs(args))
        results[name] = row
    text, md = build_tables(results, args.ap_source)
    source = ('mask-score ranked segm AP (mask_quality/segm_*)'
              if args.ap_source == 'mask_quality' else
              'mask-score ranked segm AP (coco/segm_*, pycocotools maxDets)')
    note = (f'AP in %: {source}; seed {args.seed}' +
            (f', {args.epochs} epochs' if args.epochs else '') +
            (f', {args.num_train} training images (smoke run)'
             if args.num_train else '') +
            ('; dry run: nothing measured' if args.dry_run else '') +
            ('; "-": not measured' if not args.dry_run and any(
                r is None for r in results.values()) else ''))
    out_md = args.out_md or osp.join(args.work_dir, 'ablation_results.md')
    out_json = osp.join(args.work_dir, 'ablation_results.json')
    bench_results.write_results(
        text, md, note, dict(ap_source=args.ap_source, results=results),
        out_md, out_json)
    print(f'\nwrote {out_md} and {out_json} in '
          f'{(time.time() - start) / 60:.1f} min')
    return results


if __name__ == '__main__':
    main()
