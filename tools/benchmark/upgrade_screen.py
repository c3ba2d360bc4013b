"""Screen scorer designs on one frozen detector, chosen without the val set.

    python tools/benchmark/upgrade_screen.py CHECKPOINT --configs A.py B.py \\
        [--holdout 100] [--val] [--work-dir DIR] [--seed S]

For each CONFIG (a scored model with a frozen-upgrade schedule, e.g.
``configs/upgrade/ms-rcnn_r18_fpn_nuclei_frozen-upgrade*.py``) the scorer is
trained on the trained detector CHECKPOINT (``tools/upgrade_scoring.py``)
on the training images *except* the first ``--holdout``, then the same
checkpoint's masks are ranked on those held-out training images
(``MaskQualityMetric``: cls score, cls x maskness, mask score, oracle,
headroom recovered). The detector, its boxes and masks are the same for
every config, so the rows differ by the scorer alone (paired), and a design
can be chosen on the held-out images; ``--val`` then also evaluates each
upgraded model on the val set, to report. Runs whose checkpoint exists are
not retrained (evaluated again; ``upgrade_min`` stays that of the run that
trained it, ``reused`` says so). Writes ``<work_dir>/<name>/screen.json``
(and each evaluation's detections with their masks, ``holdout_dets.npz`` /
``val_dets.npz``, for ``tools/analysis/headroom_curve.py``) and prints a
table. ``--fit-images A B`` also dumps the upgraded model's detections on
training images ``A..B-1`` (ones the scorer trained on, never the held-out
ones), ``fit_dets.npz``: the fit set of ``tools/analysis/
image_cue_rescoring.py`` and ``fit_mask_score_power.py``.
"""
import argparse
import os.path as osp
import time

from msrcnn_benchmark.results import load_json, save_json
from msrcnn_benchmark.runs import (config_name, last_checkpoint, load_script,
                                   setup_registries)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
KEYS = ('score_segm_mAP', 'maskness_segm_mAP', 'segm_mAP', 'oracle_segm_mAP',
        'headroom_recovered', 'score_segm_mAP_75', 'segm_mAP_75',
        'headroom_recovered_75', 'pearson_iou_hits', 'spearman_iou_hits')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('checkpoint', help='trained detector (no scorer)')
    parser.add_argument('--configs', nargs='+', required=True)
    parser.add_argument('--work-dir', default='work_dirs/upgrade_screen')
    parser.add_argument(
        '--data-root', default='../shared/datasets/dsb2018_nuclei/')
    parser.add_argument(
        '--img-dir', default='images/',
        help="image folder under the data root, '{split}' replaced by "
        'train / val (nuclei: one folder)')
    parser.add_argument('--num-train', type=int, default=532,
                        help='training images of the data set')
    parser.add_argument('--holdout', type=int, default=100,
                        help='first training images kept out of the '
                        'upgrade, to compare the configs on')
    parser.add_argument('--max-dets', type=int, default=1000)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--val', action='store_true',
                        help='also evaluate every upgraded model on val')
    parser.add_argument('--num-val', type=int,
                        help='val images (default: all; smoke runs)')
    parser.add_argument(
        '--fit-images', type=int, nargs=2, metavar=('A', 'B'),
        help='also dump the detections of training images A..B-1 '
        '(fit_dets.npz), a fit set for the analysis tools')
    args = parser.parse_args(argv)
    if not 0 < args.holdout < args.num_train:
        parser.error(f'--holdout {args.holdout} must be in (0, '
                     f'--num-train {args.num_train}).')
    if args.fit_images is not None:
        first, stop = args.fit_images
        if not args.holdout <= first < stop <= args.num_train:
            parser.error(
                f'--fit-images {first} {stop} must satisfy --holdout '
                f'{args.holdout} <= A < B <= --num-train {args.num_train}: '
                'fit on images the scorer trained on, never on the '
                'held-out ones it is compared on.')
    return args


def screen_one(config, args, upgrade, ranking):
    """Upgrade on the non-held-out images, evaluate; returns the row."""
    name = config_name(config)
    run_dir = osp.join(args.work_dir, name)
    reused = last_checkpoint(run_dir) is not None
    if reused:  # the time of the run that trained it, when recorded
        recorded = osp.join(run_dir, 'screen.json')
        train_min = load_json(recorded).get('upgrade_min') \
            if osp.exists(recorded) else None
    else:
        start = time.time()
        kept = list(range(args.holdout, args.num_train))
        upgrade.main([
            config, args.checkpoint, '--work-dir', run_dir, '--cfg-options',
            f'train_dataloader.dataset.indices={kept}',
            f'randomness.seed={args.seed}',
            # no validation inside the upgrade: the evaluations below
            'train_cfg.val_interval=1000000'
        ])
        train_min = (time.time() - start) / 60
    ckpt = last_checkpoint(run_dir)
    root = args.data_root.rstrip('/') + '/'
    row = dict(name=name, config=config, detector=args.checkpoint,
               checkpoint=ckpt, holdout=args.holdout, seed=args.seed,
               upgrade_min=train_min, reused=reused)
    splits = [('holdout', 'train', args.holdout)]
    if args.fit_images is not None:
        splits.append(('fit', 'train', list(range(*args.fit_images))))
    if args.val:
        splits.append(('val', 'val', args.num_val))
    for key, split, indices in splits:
        metrics = ranking._test(config, ckpt, osp.join(run_dir, key), root,
                                split, indices=indices,
                                dump=osp.join(run_dir, f'{key}_dets.npz'),
                                max_dets=args.max_dets, img_dir=args.img_dir)
        row[key] = {
            k.split('/', 1)[1]: v
            for k, v in metrics.items() if k.startswith('mask_quality/')
        }
    save_json(row, osp.join(run_dir, 'screen.json'))
    return row


def print_table(rows):
    print('config | images | ' + ' | '.join(KEYS))
    for row in rows:
        for key in ('holdout', 'fit', 'val'):
            if key in row:
                cells = [f'{row[key].get(k, float("nan")):.4f}' for k in KEYS]
                print(f'{row["name"]} | {key} | ' + ' | '.join(cells))


def main(argv=None):
    args = parse_args(argv)
    setup_registries()
    upgrade = load_script(osp.join(REPO, 'tools', 'upgrade_scoring.py'))
    ranking = load_script(osp.join(REPO, 'tools', 'benchmark', 'ranking.py'))
    rows = [screen_one(c, args, upgrade, ranking) for c in args.configs]
    print_table(rows)
    return rows


if __name__ == '__main__':
    main()
