"""Correlation and calibration of scores against the true MaskIoU."""
import warnings
from typing import Tuple

import numpy as np
from scipy import stats


def correlations(x, y) -> Tuple[float, float]:
    """NaN-safe Pearson and Spearman correlation.

    Pairs with a non-finite value are dropped. Fewer than 2 pairs or a
    constant input give nan instead of an error.

    Args:
        x (array-like): (N,) first variable.
        y (array-like): (N,) second variable.

    Returns:
        tuple[float, float]: Pearson r and Spearman rho.
    """
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    valid = np.isfinite(x) & np.isfinite(y)
    x, y = x[valid], y[valid]
    if x.size < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float('nan'), float('nan')
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        pearson = stats.pearsonr(x, y)[0]
        spearman = stats.spearmanr(x, y)[0]
    return float(pearson), float(spearman)


def binned_means(x, y, num_bins: int = 10) -> Tuple[np.ndarray, ...]:
    """Bin ``x`` into equal-width bins on [0, 1] and average x and y.

    Bin ``b`` holds ``min(floor(x * num_bins), num_bins - 1) == b`` (``x``
    clipped to [0, 1]), so bins are ``[b / B, (b + 1) / B)`` and the last
    one also holds 1.

    Args:
        x (array-like): (N,) values in [0, 1] that define the bins.
        y (array-like): (N,) values averaged per bin.
        num_bins (int): Number of bins B.

    Returns:
        tuple[np.ndarray]: ``counts`` (B,) int64, ``mean_x`` (B,) and
        ``mean_y`` (B,) float64, nan for empty bins.
    """
    x = np.clip(np.asarray(x, dtype=np.float64).reshape(-1), 0., 1.)
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    idx = np.minimum(np.floor(x * num_bins).astype(np.int64), num_bins - 1)
    counts = np.bincount(idx, minlength=num_bins).astype(np.int64)
    with np.errstate(invalid='ignore', divide='ignore'):
        mean_x = np.bincount(idx, weights=x, minlength=num_bins) / counts
        mean_y = np.bincount(idx, weights=y, minlength=num_bins) / counts
    return counts, mean_x, mean_y


def expected_calibration_error(scores, true_ious, num_bins: int = 10) -> float:
    """Expected calibration error of scores as MaskIoU estimates.

    ``ECE = sum_b (n_b / N) * |mean(score in b) - mean(true IoU in b)|``
    with the equal-width score bins of :func:`binned_means`.

    Args:
        scores (array-like): (N,) scores in [0, 1].
        true_ious (array-like): (N,) true MaskIoU.
        num_bins (int): Number of bins.

    Returns:
        float: ECE, nan when N is 0.
    """
    counts, mean_s, mean_iou = binned_means(scores, true_ious, num_bins)
    total = counts.sum()
    if total == 0:
        return float('nan')
    nonempty = counts > 0
    return float(
        np.sum(counts[nonempty] / total *
               np.abs(mean_s[nonempty] - mean_iou[nonempty])))
