"""How the classification score and the predicted MaskIoU combine.

The paper ranks masks by ``score * mask_iou``. Since a ranking does not
change under a monotone map, ``score**a * mask_iou**b`` ranks as
``score * mask_iou**(b / a)``: one exponent, the power of the MaskIoU, is
all there is to fit. It is fitted on detections of *training* images (a
``MaskQualityMetric`` dump of a training split), never on the split that is
reported, by how well the combined score orders the detections as the
oracle ``score * true_iou`` does (Spearman correlation): the oracle's
ordering is the one that reaches the oracle AP.
"""
from typing import Dict, List, Sequence

import numpy as np

from .statistics import correlations

#: Exponents tried by default.
DEFAULT_POWERS = (0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0)


def spread_by_true_iou(true_iou, pred_iou,
                       num_bins: int = 10) -> Dict[str, np.ndarray]:
    """Mean and standard deviation of the prediction per true-IoU bin.

    Shows how compressed the predicted MaskIoU is: a perfect estimate has
    the bin centres as means and no spread.

    Args:
        true_iou (array-like): (N,) true MaskIoU in [0, 1].
        pred_iou (array-like): (N,) predicted MaskIoU.
        num_bins (int): Equal-width bins on [0, 1]. Defaults to 10.

    Returns:
        dict[str, np.ndarray]: ``count`` (B,) int64, ``mean`` and ``std``
        (B,) float64 of the prediction per bin (nan where empty).
    """
    true_iou = np.clip(np.asarray(true_iou, dtype=np.float64), 0., 1.)
    pred_iou = np.asarray(pred_iou, dtype=np.float64)
    idx = np.minimum(np.floor(true_iou * num_bins).astype(np.int64),
                     num_bins - 1)
    count = np.bincount(idx, minlength=num_bins)
    with np.errstate(invalid='ignore', divide='ignore'):
        mean = np.bincount(idx, weights=pred_iou, minlength=num_bins) / count
        sq = np.bincount(idx, weights=pred_iou**2, minlength=num_bins) / count
    std = np.sqrt(np.maximum(sq - mean**2, 0.))
    return dict(count=count.astype(np.int64), mean=mean, std=std)


#: Classification-score thresholds of :func:`correlation_above_scores`.
DEFAULT_SCORE_THRESHOLDS = (0.05, 0.3, 0.5, 0.7, 0.9)


def correlation_above_scores(
        score, true_iou, pred_iou,
        thresholds: Sequence[float] = DEFAULT_SCORE_THRESHOLDS
) -> Dict[str, np.ndarray]:
    """How well the estimate orders the hits above each cls score.

    AP is decided at the top of the ranking, among the confident
    detections, and a correlation over all hits is raised by the many
    low-scored ones whose low IoU is easy to tell. Over the hits (true IoU
    > 0) with a classification score above each threshold: their number,
    the spread of their true IoU and the Pearson / Spearman correlation of
    the estimate with it.

    Args:
        score (array-like): (N,) classification score.
        true_iou (array-like): (N,) true MaskIoU.
        pred_iou (array-like): (N,) predicted MaskIoU.
        thresholds (Sequence[float]): Increasing score thresholds (T).

    Returns:
        dict[str, np.ndarray]: Per threshold, (T,): ``count`` (int64),
        ``true_std``, ``pearson`` and ``spearman`` (float64, nan with
        fewer than two hits or a constant one).
    """
    thresholds = np.asarray(thresholds, dtype=np.float64)
    if thresholds.ndim != 1 or not len(thresholds) or (
            np.diff(thresholds) <= 0).any():
        raise ValueError(
            f'thresholds must increase, got {thresholds.tolist()}.')
    score = np.asarray(score, dtype=np.float64)
    true_iou = np.asarray(true_iou, dtype=np.float64)
    pred_iou = np.asarray(pred_iou, dtype=np.float64)
    out = dict(count=np.zeros(len(thresholds), dtype=np.int64),
               **{k: np.full(len(thresholds), np.nan)
                  for k in ('true_std', 'pearson', 'spearman')})
    for t, thr in enumerate(thresholds):
        keep = (score > thr) & (true_iou > 0)
        out['count'][t] = int(keep.sum())
        if keep.sum() > 1:
            out['true_std'][t] = float(true_iou[keep].std())
        out['pearson'][t], out['spearman'][t] = correlations(
            pred_iou[keep], true_iou[keep])
    return out


def score_correlation_lines(corr: Dict[str, Sequence],
                            thresholds: Sequence[float] = (
                                DEFAULT_SCORE_THRESHOLDS)) -> List[str]:
    """:func:`correlation_above_scores` as printable lines."""
    lines = ['hits with cls above | hits | true IoU std | Pearson | Spearman']
    for t, thr in enumerate(thresholds):
        lines.append(f'  {thr:g} | {int(corr["count"][t])} | '
                     f'{corr["true_std"][t]:.3f} | {corr["pearson"][t]:.3f} '
                     f'| {corr["spearman"][t]:.3f}')
    return lines


#: Predicted-mask area bins (pixels) of :func:`error_by_mask_area`.
DEFAULT_AREA_EDGES = (0., 64., 256., 1024., float('inf'))


def error_by_mask_area(true_iou, pred_iou, area,
                       edges: Sequence[float] = DEFAULT_AREA_EDGES
                       ) -> Dict[str, np.ndarray]:
    """The MaskIoU estimate's error on the hits, per predicted-mask area.

    Over the detections that hit an object (true IoU > 0), binned by the
    area of the predicted mask, ``[edges[b], edges[b + 1])``: whether the
    estimate is biased by the object's size in pixels, which the fixed
    RoIAlign grid hides from the head.

    Args:
        true_iou (array-like): (N,) true MaskIoU.
        pred_iou (array-like): (N,) predicted MaskIoU.
        area (array-like): (N,) pixels of each predicted mask.
        edges (Sequence[float]): Increasing bin edges (B + 1).

    Returns:
        dict[str, np.ndarray]: Per bin, (B,): ``count`` (int64), and
        float64 (nan where empty) ``true_mean``, ``pred_mean``, ``bias``
        (mean of predicted - true) and ``rmse``.
    """
    edges = np.asarray(edges, dtype=np.float64)
    if edges.ndim != 1 or len(edges) < 2 or (np.diff(edges) <= 0).any():
        raise ValueError(f'edges must increase, got {edges.tolist()}.')
    true_iou = np.asarray(true_iou, dtype=np.float64)
    pred_iou = np.clip(np.asarray(pred_iou, dtype=np.float64), 0., 1.)
    area = np.asarray(area, dtype=np.float64)
    hit = true_iou > 0
    idx = np.searchsorted(edges, area[hit], side='right') - 1
    inside = (idx >= 0) & (idx < len(edges) - 1)
    idx, true_h, pred_h = idx[inside], true_iou[hit][inside], \
        pred_iou[hit][inside]
    num_bins = len(edges) - 1
    count = np.bincount(idx, minlength=num_bins)
    err = pred_h - true_h

    def mean(values):
        with np.errstate(invalid='ignore', divide='ignore'):
            return np.bincount(idx, weights=values,
                               minlength=num_bins) / count

    return dict(
        count=count.astype(np.int64),
        true_mean=mean(true_h),
        pred_mean=mean(pred_h),
        bias=mean(err),
        rmse=np.sqrt(mean(err**2)))


def area_error_lines(errors: Dict[str, Sequence],
                     edges: Sequence[float] = DEFAULT_AREA_EDGES
                     ) -> List[str]:
    """:func:`error_by_mask_area` as printable lines, one per bin."""
    lines = ['mask area (px) | hits | true mean | predicted mean | bias | '
             'rmse']
    for b in range(len(errors['count'])):
        lo, hi = edges[b], edges[b + 1]
        name = f'[{lo:g}, {hi:g})'
        vals = [errors[k][b] for k in ('true_mean', 'pred_mean', 'bias',
                                       'rmse')]
        lines.append(f'  {name} | {int(errors["count"][b])} | ' +
                     ' | '.join('-' if np.isnan(v) else f'{v:+.3f}'
                                if k == 2 else f'{v:.3f}'
                                for k, v in enumerate(vals)))
    return lines


def fit_mask_score_power(score, pred_iou, true_iou,
                         powers: Sequence[float] = DEFAULT_POWERS
                         ) -> Dict[str, object]:
    """The MaskIoU exponent whose mask score best orders as the oracle.

    Args:
        score (array-like): (N,) classification scores.
        pred_iou (array-like): (N,) predicted MaskIoU.
        true_iou (array-like): (N,) true MaskIoU.
        powers (Sequence[float]): Exponents to try (positive).

    Returns:
        dict: ``power`` (the best exponent; the smallest on ties),
        ``spearman`` (dict exponent -> Spearman correlation of
        ``score * pred_iou**power`` with ``score * true_iou``) and
        ``spearman_cls`` (the classification score's alone).
    """
    score = np.asarray(score, dtype=np.float64)
    pred = np.clip(np.asarray(pred_iou, dtype=np.float64), 0., 1.)
    oracle = score * np.asarray(true_iou, dtype=np.float64)
    if any(p <= 0 for p in powers):
        raise ValueError(f'powers must be positive, got {list(powers)}.')
    spearman = {
        float(p): correlations(score * pred**p, oracle)[1]
        for p in powers
    }
    best = max(sorted(spearman), key=lambda p: (spearman[p], -p))
    return dict(
        power=best,
        spearman=spearman,
        spearman_cls=correlations(score, oracle)[1])


def spread_lines(spread: Dict[str, Sequence]) -> List[str]:
    """:func:`spread_by_true_iou` as printable lines, one per bin.

    Args:
        spread (dict): ``count``, ``mean`` and ``std`` per bin (arrays or
            lists of equal length B, bins of width 1 / B on [0, 1]).

    Returns:
        list[str]: A header line, then ``[lo, hi) | count | mean | std``.
    """
    num_bins = len(spread['count'])
    lines = ['true IoU bin | count | predicted mean | predicted std']
    for b, (n, m, s) in enumerate(
            zip(spread['count'], spread['mean'], spread['std'])):
        lines.append(f'  [{b / num_bins:.1f}, {(b + 1) / num_bins:.1f}) | '
                     f'{int(n):5d} | {m:.3f} | {s:.3f}')
    return lines
