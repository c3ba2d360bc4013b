"""How much of the oracle headroom a MaskIoU estimate of a given quality buys.

Reads a ``MaskQualityMetric`` dump that holds the masks (``dump_file=...``,
written with the RLEs) and ranks its masks again, with pycocotools, by

- the classification score (``cls``), the dump's mask score (``mask
  score``) and ``score x true IoU`` (``oracle``), as the metric does;
- ``score x ((1 - m) x predicted + m x true IoU)`` for each ``--mix`` m:
  the model's own estimate moved part of the way to the truth, its errors
  scaled by ``1 - m`` (their structure kept);
- ``score x clip(true IoU + s x N(0, 1), 0, 1)`` for each ``--noise`` s,
  ``--draws`` draws each: an estimate whose error is unbiased noise.

Each row gives the segm AP and AP75, the share of the oracle headroom
recovered and the Pearson correlation of the estimate with the true IoU on
the hits (score above ``--score-thr``, true IoU > 0, as the metric's
``pearson_iou_hits``), so a reader sees which correlation a headroom goal
asks for on that data. A description of one dump: nothing is fitted.

    python tools/analysis/headroom_curve.py val_dets.npz \\
        --ann-file data/nuclei/annotations/instances_val.json \\
        [--mix 0.25 0.5 0.75] [--noise 0.05 0.1 0.2] [--max-dets 1000] \\
        [--out curve.json]

The AP is over the images of the dump (those with at least one detection);
the metric's ``score_segm_mAP`` / ``segm_mAP`` / ``oracle_segm_mAP`` are
reproduced when every evaluated image has one.
"""
import argparse
import json
from typing import Dict, List

import numpy as np

from mmdet_msrcnn.evaluation import MaskQualityMetric
from mmdet_msrcnn.evaluation.functional import (coco_segm_stats,
                                                correlations, load_coco,
                                                load_records)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('dump', help='MaskQualityMetric dump with the masks '
                        '(.npz or .json)')
    parser.add_argument('--ann-file', required=True,
                        help='COCO annotation json of the dumped images')
    parser.add_argument('--mix', type=float, nargs='*',
                        default=[0.25, 0.5, 0.75],
                        help='shares m in [0, 1] of the true IoU mixed in')
    parser.add_argument('--noise', type=float, nargs='*',
                        default=[0.05, 0.1, 0.15, 0.2],
                        help='std of the noise added to the true IoU')
    parser.add_argument('--draws', type=int, default=2,
                        help='noise draws per --noise value')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--max-dets', type=int, default=100,
                        help='largest maxDets of the segm evaluation (as '
                        'the metric: 1, 10, this)')
    parser.add_argument('--score-thr', type=float, default=0.05,
                        help='detections above it count for the Pearson '
                        'correlation (as the metric)')
    parser.add_argument('--out', help='write the rows as json')
    args = parser.parse_args(argv)
    if any(not 0 <= m <= 1 for m in args.mix):
        parser.error(f'--mix values must lie in [0, 1], got {args.mix}')
    if any(s <= 0 for s in args.noise):
        parser.error(f'--noise values must be positive, got {args.noise}')
    if args.draws < 1:
        parser.error(f'--draws must be at least 1, got {args.draws}')
    return args


def check_dump(records: Dict[str, object], dump: str) -> None:
    """Refuse a dump this tool cannot rank again.

    Raises:
        SystemExit: No masks in the dump, or no predicted MaskIoU.
    """
    if 'rles' not in records:
        raise SystemExit(
            f'{dump}: no masks in the dump (written before masks were '
            'dumped); evaluate again with MaskQualityMetric(dump_file=...).')
    if np.isnan(records['pred_iou']).any():
        raise SystemExit(
            f'{dump}: detections without a predicted MaskIoU (pred_iou is '
            'nan): dump the results of a model with a MaskIoU head.')


def curve_rows(records: Dict[str, object], coco_api, args) -> List[dict]:
    """Every ranking of the dump's masks, one row each (see the module)."""
    score = records['score']
    true = records['true_iou']
    pred = np.clip(records['pred_iou'], 0., 1.)
    hits = (score > args.score_thr) & (true > 0)
    img_ids = sorted(set(records['img_id'].tolist()))
    max_dets = (1, 10, args.max_dets)
    rng = np.random.default_rng(args.seed)

    def row(name, scores, estimate, param=None, draw=None):
        stats, _ = coco_segm_stats(coco_api, records, scores, None, img_ids,
                                   max_dets)
        return dict(
            ranking=name,
            param=param,
            draw=draw,
            segm_mAP=float(stats[0]),
            segm_mAP_75=float(stats[2]),
            pearson_iou_hits=(correlations(estimate[hits], true[hits])[0]
                              if estimate is not None else float('nan')))

    rows = [
        row('cls', score, score),
        row('mask score', records['mask_score'], pred),
        row('oracle', score * true, true)
    ]
    for m in args.mix:
        estimate = (1. - m) * pred + m * true
        rows.append(row('mix', score * estimate, estimate, m))
    for s in args.noise:
        for d in range(args.draws):
            estimate = np.clip(true + s * rng.standard_normal(true.shape), 0.,
                               1.)
            rows.append(row('noise', score * estimate, estimate, s, d))
    cls, oracle = rows[0], rows[2]
    for r in rows:  # the metric's headroom keys, on this row's AP
        r.update(
            MaskQualityMetric.headroom(
                dict(
                    segm_mAP=r['segm_mAP'],
                    segm_mAP_75=r['segm_mAP_75'],
                    score_segm_mAP=cls['segm_mAP'],
                    score_segm_mAP_75=cls['segm_mAP_75'],
                    oracle_segm_mAP=oracle['segm_mAP'],
                    oracle_segm_mAP_75=oracle['segm_mAP_75'])))
    return rows


def print_rows(rows: List[dict]) -> None:
    print('ranking | param | draw | segm AP | AP75 | headroom | headroom AP75'
          ' | Pearson hits')
    for r in rows:
        param = '' if r['param'] is None else f'{r["param"]:g}'
        draw = '' if r['draw'] is None else str(r['draw'])
        print(f'{r["ranking"]} | {param} | {draw} | '
              f'{100 * r["segm_mAP"]:.1f} | {100 * r["segm_mAP_75"]:.1f} | '
              f'{100 * r["headroom_recovered"]:.0f} % | '
              f'{100 * r["headroom_recovered_75"]:.0f} % | '
              f'{r["pearson_iou_hits"]:.3f}')


def main(argv=None) -> List[dict]:
    args = parse_args(argv)
    records = load_records(args.dump)
    check_dump(records, args.dump)
    coco_api = load_coco(args.ann_file)
    rows = curve_rows(records, coco_api, args)
    print(f'{args.dump}: {len(records["score"])} detections on '
          f'{len(set(records["img_id"].tolist()))} images')
    print_rows(rows)
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(rows, f, indent=1)
    return rows


if __name__ == '__main__':
    main()
