"""Paired ranking gains over seeds: one row per run, mean ± std per config.

Reads the ``metrics.json`` of finished runs (``tools/benchmark/ablation.py``
or ``tools/demo.py`` work dirs: ``<dir>/<config>/metrics.json``) and tabulates
what ``MaskQualityMetric`` measured on each run's own masks: box AP, mask AP
ranked by the classification score, by cls x maskness, by the mask score, by
the oracle (cls x true IoU), the paired gains, the headroom recovered (AP and
AP75), the correlations of the MaskIoU estimate with the true MaskIoU
(Pearson / Spearman, over the detections above the metric's score threshold
and over those that hit an object), the training wall time and the median
seconds per training iteration of the run's log. Trains nothing.

    python tools/benchmark/ranking_seeds.py work_dirs/seeds_s0 \\
        work_dirs/seeds_s1 work_dirs/seeds_s2 --out-md ranking_seeds.md

Runs made before the metric had ``spearman_iou_hits`` get it from their
detection dump (``mask_quality_dets.json``, the metric's own records and
definition: detections above 0.05, true IoU > 0, the classification score as
the estimate of models without a MaskIoU head).
"""
import argparse
import glob
import json
import os.path as osp
import re

import numpy as np

from msrcnn_benchmark.results import render_table

#: (column, key, scale, digits); ``gain/...`` keys are derived here
COLUMNS = [
    ('box AP', 'coco/bbox_mAP', 100, 1),
    ('AP cls', 'mask_quality/score_segm_mAP', 100, 1),
    ('AP cls x maskness', 'mask_quality/maskness_segm_mAP', 100, 1),
    ('AP mask score', 'mask_quality/segm_mAP', 100, 1),
    ('AP oracle', 'mask_quality/oracle_segm_mAP', 100, 1),
    ('AP gain', 'gain/ap', 100, 1),
    ('headroom', 'mask_quality/headroom_recovered', 100, 0),
    ('AP75 cls', 'mask_quality/score_segm_mAP_75', 100, 1),
    ('AP75 mask score', 'mask_quality/segm_mAP_75', 100, 1),
    ('AP75 gain', 'gain/ap75', 100, 1),
    ('headroom AP75', 'mask_quality/headroom_recovered_75', 100, 0),
    ('Pearson hits', 'mask_quality/pearson_iou_hits', 1, 3),
    ('Spearman hits', 'mask_quality/spearman_iou_hits', 1, 3),
    ('Pearson all', 'mask_quality/pearson_iou', 1, 3),
    ('Spearman all', 'mask_quality/spearman_iou', 1, 3),
    ('train min', 'gain/train_min', 1, 1),
    ('s/iter', 'gain/iter_s', 1, 3),
]
SCORE_THR = 0.05


def spearman_hits_from_dump(dump: str) -> float:
    """``spearman_iou_hits`` of a run, from its detection dump."""
    from mmdet_msrcnn.evaluation.functional import (correlations,
                                                    load_records)
    rec = load_records(dump)
    keep = rec['score'] > SCORE_THR
    pred = np.where(np.isnan(rec['pred_iou']), rec['score'],
                    rec['pred_iou'])[keep]
    true = rec['true_iou'][keep]
    hit = true > 0
    return float(correlations(pred[hit], true[hit])[1])


def median_iter_time(run_dir: str) -> float:
    """Median of mmengine's per-iteration ``time`` of a run's training log.

    The median, so that iterations of a run paused (SIGSTOP) for another
    job do not count; nan without a log.
    """
    times = []
    for log in glob.glob(osp.join(run_dir, '*', '*.log')):
        with open(log) as f:
            times += [
                float(m.group(1)) for line in f if 'Epoch(train)' in line
                for m in [re.search(r' time: ([0-9.]+)', line)] if m
            ]
    return float(np.median(times)) if times else float('nan')


def load_run(path: str) -> dict:
    """A ``metrics.json`` row with the derived ``gain/*`` metrics.

    Models without a rescoring (Mask R-CNN) rank by ``scores`` only: their
    cls-ranked AP is their AP and the gains are 0.
    """
    with open(path) as f:
        row = json.load(f)
    m = dict(row['metrics'])
    if 'mask_quality/score_segm_mAP' not in m:
        for suffix in ('', '_75'):
            m[f'mask_quality/score_segm_mAP{suffix}'] = \
                m[f'mask_quality/segm_mAP{suffix}']
    m['gain/ap'] = m['mask_quality/segm_mAP'] - m[
        'mask_quality/score_segm_mAP']
    m['gain/ap75'] = m['mask_quality/segm_mAP_75'] - m[
        'mask_quality/score_segm_mAP_75']
    m['gain/train_min'] = row.get('train_s', float('nan')) / 60
    m['gain/iter_s'] = median_iter_time(osp.dirname(path))
    dump = osp.join(osp.dirname(path), 'mask_quality_dets.json')
    if 'mask_quality/spearman_iou_hits' not in m and osp.exists(dump):
        m['mask_quality/spearman_iou_hits'] = spearman_hits_from_dump(dump)
    row['metrics'] = m
    return row


def _cell(value, scale, digits) -> str:
    if value is None or not np.isfinite(value):
        return '-'
    return f'{value * scale:.{digits}f}'


def seeds_table(runs):
    """One row per run, then mean ± std (population) per config.

    Args:
        runs (list[dict]): Rows of :func:`load_run`.

    Returns:
        tuple[str, str]: Plain text and markdown.
    """
    header = ['config', 'seed'] + [c[0] for c in COLUMNS]
    rows, by_name = [], {}
    for run in sorted(runs, key=lambda r: (r['name'], r['seed'])):
        m = run['metrics']
        rows.append([run['name'], str(run['seed'])] + [
            _cell(m.get(key), scale, digits)
            for _, key, scale, digits in COLUMNS
        ])
        by_name.setdefault(run['name'], []).append(m)
    for name, ms in by_name.items():
        if len(ms) < 2:
            continue
        cells = []
        for _, key, scale, digits in COLUMNS:
            vals = np.array([m.get(key, np.nan) for m in ms],
                            dtype=np.float64) * scale
            cells.append('-' if np.isnan(vals).all() else
                         f'{np.nanmean(vals):.{digits}f} ± '
                         f'{np.nanstd(vals):.{digits}f}')
        rows.append([name, f'mean of {len(ms)}'] + cells)
    return render_table(header, rows)


def find_runs(dirs) -> list:
    """Every ``<dir>/<config>/metrics.json`` under ``dirs``."""
    paths = []
    for d in dirs:
        found = sorted(glob.glob(osp.join(d, '*', 'metrics.json')))
        if not found:
            raise SystemExit(f'{d}: no <config>/metrics.json below it; '
                             'train with tools/benchmark/ablation.py first.')
        paths += found
    return [load_run(p) for p in paths]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('dirs', nargs='+', help='work dirs of finished runs')
    parser.add_argument('--configs', nargs='+',
                        help='only these config names')
    parser.add_argument('--out-md', help='write the markdown table')
    args = parser.parse_args(argv)
    runs = find_runs(args.dirs)
    if args.configs:
        runs = [r for r in runs if r['name'] in args.configs]
    text, md = seeds_table(runs)
    print(text)
    if args.out_md:
        with open(args.out_md, 'w') as f:
            f.write(md + '\n')
    return runs


if __name__ == '__main__':
    main()
