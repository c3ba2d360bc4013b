"""Real-data benchmark: Mask R-CNN vs MS R-CNN on DSB2018 nuclei.

    python tools/benchmark/nuclei.py                    # both, seed 0
    python tools/benchmark/nuclei.py --seeds 0 1        # several seeds
    python tools/benchmark/nuclei.py --probe 20         # timing only
    python tools/benchmark/nuclei.py --epochs 1 --num-train 8 --num-val 4

Trains and evaluates ``configs/nuclei/mask-rcnn_r18_fpn_nuclei.py`` and
``configs/nuclei/ms-rcnn_r18_fpn_nuclei.py`` (identical but for the MaskIoU
head) with the same seed, through ``tools/demo.py``'s ``build_cfg`` /
``run_one``. Writes ``<work-dir>/seed<S>/<config>/metrics.json``, then one
table (markdown: ``--out-md``, json: ``<work-dir>/nuclei_results.json``):

- box AP: CocoMetric ``coco/bbox_mAP`` (pycocotools takes this one at 100
  detections per image whatever ``proposal_nums`` is);
- mask AP, AP50, AP75, APs, APm, APl: MaskQualityMetric ``segm_*``, ranked
  by the mask score (Mask R-CNN: the classification score), every AP at up
  to 1000 detections per image (``max_dets``; models keep 400);
- predicted-vs-true MaskIoU Pearson / Spearman (Mask R-CNN: the
  classification score as its MaskIoU estimate), calibration error (ECE) of
  the mask score, and the oracle mask AP (``score * true IoU``).

``--probe N`` trains N iterations of each model on the real pipeline, times
them (and inference on ``--probe-val`` images) and projects the full
schedule; nothing is evaluated.
"""
import argparse
import os
import os.path as osp
import sys
import time

import numpy as np

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
import common  # noqa: E402

REPO = common.REPO
MODELS = {
    'mask': ('Mask R-CNN',
             osp.join(REPO, 'configs/nuclei/mask-rcnn_r18_fpn_nuclei.py')),
    'ms':
    ('MS R-CNN', osp.join(REPO, 'configs/nuclei/ms-rcnn_r18_fpn_nuclei.py')),
}
DATA_ROOT = osp.join(REPO, '../shared/datasets/dsb2018_nuclei')

#: (column, metric key, scale, digits)
COLUMNS = [
    ('box AP', 'coco/bbox_mAP', 100, 1),
    ('mask AP', 'mask_quality/segm_mAP', 100, 1),
    ('AP50', 'mask_quality/segm_mAP_50', 100, 1),
    ('AP75', 'mask_quality/segm_mAP_75', 100, 1),
    ('APs', 'mask_quality/segm_mAP_s', 100, 1),
    ('APm', 'mask_quality/segm_mAP_m', 100, 1),
    ('APl', 'mask_quality/segm_mAP_l', 100, 1),
    ('IoU Pearson', 'mask_quality/pearson_iou', 1, 3),
    ('IoU Spearman', 'mask_quality/spearman_iou', 1, 3),
    ('ECE', 'mask_quality/ece', 1, 3),
    ('oracle mask AP', 'mask_quality/oracle_segm_mAP', 100, 1),
]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--seeds', type=int, nargs='+', default=[0])
    parser.add_argument(
        '--models', nargs='+', choices=sorted(MODELS), default=['mask', 'ms'])
    parser.add_argument('--epochs', type=int, help='override max_epochs')
    parser.add_argument('--data-root', default=DATA_ROOT)
    parser.add_argument(
        '--work-dir', default=osp.join(REPO, 'work_dirs/nuclei'))
    parser.add_argument(
        '--num-train', type=int, help='train on a subset (smoke runs)')
    parser.add_argument(
        '--num-val', type=int, help='test on a subset (smoke runs)')
    parser.add_argument(
        '--num-vis', type=int, default=4, help='validation images to draw')
    parser.add_argument(
        '--skip-existing',
        action='store_true',
        help='reuse metrics.json of runs with the same epochs and subsets')
    parser.add_argument(
        '--probe',
        type=int,
        metavar='N',
        help='time N training iterations per model and project; no '
        'evaluation')
    parser.add_argument(
        '--probe-val',
        type=int,
        default=0,
        help='with --probe: also time inference on that many val images')
    parser.add_argument(
        '--out-md',
        help='markdown table (default: '
        '<work-dir>/nuclei_results.md)')
    return parser.parse_args(argv)


def _cells(metrics):
    return [
        common.fmt(metrics.get(key), digits, scale)
        for _, key, scale, digits in COLUMNS
    ]


def build_table(runs):
    """Text and markdown table: one row per run, mean ± std per model.

    Args:
        runs (list[dict]): ``model`` (label), ``seed`` and ``metrics``.

    Returns:
        tuple[str, str]: Plain text and markdown.
    """
    header = ['model', 'seed'] + [c[0] for c in COLUMNS]
    rows = [[r['model'], str(r['seed'])] + _cells(r['metrics']) for r in runs]
    by_model = {}
    for r in runs:
        by_model.setdefault(r['model'], []).append(r['metrics'])
    for model, all_metrics in by_model.items():
        if len(all_metrics) < 2:
            continue
        cells = []
        for _, key, scale, digits in COLUMNS:
            vals = np.array([
                np.nan if m.get(key) is None or m.get(key) < 0 else m[key]
                for m in all_metrics
            ],
                            dtype=np.float64) * scale
            if np.isnan(vals).all():
                cells.append('-')
            else:
                cells.append(f'{np.nanmean(vals):.{digits}f} ± '
                             f'{np.nanstd(vals):.{digits}f}')
        rows.append([model, f'mean of {len(all_metrics)}'] + cells)
    return common.render_table(header, rows,
                               'DSB2018 nuclei, val (132 images)')


def _reusable(path, args):
    if not (args.skip_existing and osp.exists(path)):
        return None
    row = common.load_json(path)
    if row.get('num_train') != args.num_train or \
            row.get('num_val') != args.num_val:
        return None
    if args.epochs and row.get('epochs') != args.epochs:
        return None
    return row


def run_probe(args):
    out = []
    for key in args.models:
        label, config = MODELS[key]
        args.seed = args.seeds[0]
        res = common.probe_config(config, args, args.probe, args.probe_val)
        res['model'] = label
        out.append(res)
        print(f"{label}: {res['s_per_iter']:.2f} s/iter (data "
              f"{res['data_s_per_iter']:.2f} s) over {res['iters_timed']} "
              f"iterations; {res['iters_per_epoch']} iters/epoch x "
              f"{res['max_epochs']} epochs -> "
              f"{res['projected_train_min']:.0f} min training" +
              (f"; inference {res['s_per_val_image']:.2f} s/image -> "
               f"{res['projected_test_min']:.1f} min for the val set"
               if 's_per_val_image' in res else ''))
    common.save_json(out, osp.join(args.work_dir, 'probe.json'))
    return out


def main(argv=None):
    args = parse_args(argv)
    common.setup_registries()
    args.data_root = osp.abspath(args.data_root)
    if not osp.exists(osp.join(args.data_root, 'annotations')):
        raise FileNotFoundError(
            f'No nuclei data set at {args.data_root}; see '
            '../shared/datasets/dsb2018_nuclei/README.md or pass '
            '--data-root.')
    base_work_dir = args.work_dir
    if args.probe:
        args.work_dir = osp.join(base_work_dir, 'probe')
        return run_probe(args)
    start = time.time()
    runs = []
    for seed in args.seeds:
        args.seed = seed
        args.work_dir = osp.join(base_work_dir, f'seed{seed}')
        for key in args.models:
            label, config = MODELS[key]
            path = osp.join(args.work_dir, common.config_name(config),
                            'metrics.json')
            row = _reusable(path, args)
            if row is None:
                row = common.run_config(config, args, args.num_train,
                                        args.num_val)
            else:
                print(f'{label} seed {seed}: reusing {path}')
            runs.append(
                dict(
                    model=label,
                    seed=seed,
                    metrics=row['metrics'],
                    train_s=row['train_s'],
                    test_s=row['test_s'],
                    epochs=row['epochs'],
                    metrics_file=path))
    text, md = build_table(runs)
    note = ('AP in %. box AP: CocoMetric (<= 100 detections per image); '
            'mask APs: MaskQualityMetric, mask-score ranked, <= 1000 '
            'detections per image. IoU Pearson / Spearman: predicted '
            '(Mask R-CNN: classification score) vs true MaskIoU; ECE: '
            'calibration error of the mask score; oracle: score x true IoU.' +
            (f' Smoke run: {args.num_train} training images.'
             if args.num_train else ''))
    print('\n' + text + '\n\n' + note)
    for r in runs:
        print(f"{r['model']} seed {r['seed']}: trained {r['epochs']} epochs "
              f"in {r['train_s'] / 60:.1f} min, evaluated in "
              f"{r['test_s'] / 60:.1f} min")
    base = base_work_dir
    out_md = args.out_md or osp.join(base, 'nuclei_results.md')
    out_json = osp.join(base, 'nuclei_results.json')
    common.save_json(dict(note=note, runs=runs), out_json)
    os.makedirs(osp.dirname(osp.abspath(out_md)), exist_ok=True)
    with open(out_md, 'w') as f:
        f.write(md + '\n\n' + note + '\n')
    print(f'\nwrote {out_md} and {out_json} in '
          f'{(time.time() - start) / 60:.1f} min')
    return runs


if __name__ == '__main__':
    main()
