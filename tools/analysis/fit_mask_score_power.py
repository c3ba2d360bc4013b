"""Fit how the classification score and the predicted MaskIoU combine.

Reads a ``MaskQualityMetric`` dump (``dump_file=...``) of detections on
*training* images, fits the exponent ``p`` of ``mask_scores = scores *
mask_ious**p`` (see :mod:`mmdet_msrcnn.evaluation.functional.
score_combination`) and prints the spread of the predicted MaskIoU per
true-MaskIoU bin (how compressed the estimate is) and its error on the
hits per predicted-mask area (whether it is biased by the object's size
in pixels) and its correlation with the true IoU over the hits above each
cls score (how well it orders the confident hits AP is decided by). Use the fitted power on
the split you report with
``--cfg-options model.roi_head.mask_score_power=P`` (never fit on it).

    python tools/analysis/fit_mask_score_power.py train_dets.npz \\
        [--powers 0.5 1 2 4] [--out fit.json]
"""
import argparse
import json

import numpy as np

from mmdet_msrcnn.evaluation.functional import (
    DEFAULT_POWERS, area_error_lines, correlation_above_scores,
    error_by_mask_area, fit_mask_score_power, load_records,
    score_correlation_lines, spread_by_true_iou, spread_lines)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('dump', help='MaskQualityMetric dump of a training '
                        'split (.npz or .json)')
    parser.add_argument('--powers', type=float, nargs='+',
                        default=list(DEFAULT_POWERS))
    parser.add_argument('--score-thr', type=float, default=0.05,
                        help='detections above it count (as the metric)')
    parser.add_argument('--out', help='write the fit as json')
    return parser.parse_args(argv)


def as_json(columns: dict) -> dict:
    """Arrays of per-bin values as lists, nan as None."""
    return {
        k: [None if np.isnan(x) else float(x) for x in v]
        for k, v in columns.items()
    }


def main(argv=None) -> dict:
    args = parse_args(argv)
    records = load_records(args.dump)
    keep = records['score'] > args.score_thr
    pred = records['pred_iou'][keep]
    if np.isnan(pred).any():
        raise SystemExit(
            f'{args.dump}: detections without a predicted MaskIoU '
            '(pred_iou is nan): dump the results of a model with a MaskIoU '
            'head.')
    score, true = records['score'][keep], records['true_iou'][keep]
    fit = fit_mask_score_power(score, pred, true, args.powers)
    spread = spread_by_true_iou(true, pred)
    print(f'{keep.sum()} detections; Spearman with score x true IoU: '
          f'cls {fit["spearman_cls"]:.4f}')
    for power, rho in fit['spearman'].items():
        mark = '  <- best' if power == fit['power'] else ''
        print(f'  score x mask_iou^{power:g}: {rho:.4f}{mark}')
    print('\n'.join(spread_lines(spread)))
    by_area = error_by_mask_area(true, pred, records['area'][keep])
    print('\n'.join(area_error_lines(by_area)))
    by_score = correlation_above_scores(score, true, pred)
    print('\n'.join(score_correlation_lines(by_score)))
    out = dict(
        num_dets=int(keep.sum()),
        power=fit['power'],
        spearman={str(k): v for k, v in fit['spearman'].items()},
        spearman_cls=fit['spearman_cls'],
        spread=as_json(spread),
        error_by_area=as_json(by_area),
        correlation_above_score=as_json(by_score))
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(out, f, indent=1)
    return out


if __name__ == '__main__':
    main()
