"""Plot the mask quality analysis figures of Mask Scoring R-CNN.

Two figures, as in Huang et al., CVPR 2019:

* ``iou_scatter.png`` (paper Fig. 5): predicted vs true MaskIoU of each
  detection, Pearson correlation in the title. For results without a MaskIoU
  head (Mask R-CNN) the classification score is plotted instead.
* ``score_vs_iou.png`` (paper Fig. 2c): average classification score and
  average mask score per true-MaskIoU bin, with the ``y = x`` line of a
  perfectly calibrated score.

Input is either the per-detection dump of ``MaskQualityMetric``
(``dump_file=...``, ``.json`` or ``.npz``) or a results pickle of mmdet's
``tools/test.py --out results.pkl`` together with ``--ann-file`` (the true
MaskIoU is then computed with the metric's own matching code).

Example::

    python tools/analysis/plot_mask_quality.py work_dirs/dets.json \\
        --out-dir work_dirs/plots
    python tools/analysis/plot_mask_quality.py results.pkl \\
        --ann-file data/coco/annotations/instances_val2017.json \\
        --out-dir work_dirs/plots
"""
import argparse
import os
import os.path as osp
import pickle
import sys
from typing import Dict, List, Optional, Sequence

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def _metric_module():
    """Import the metric module (repository root as fallback path)."""
    try:
        from mmdet_msrcnn.evaluation import functional as mask_quality_metric
    except ImportError:
        root = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
        if root in sys.path:
            raise
        sys.path.insert(0, root)
        from mmdet_msrcnn.evaluation import functional as mask_quality_metric
    return mask_quality_metric


def load_records(dump_file: str) -> Dict[str, np.ndarray]:
    """Read a ``MaskQualityMetric`` dump (``.npz`` or json).

    Args:
        dump_file (str): Path of the dump.

    Returns:
        dict[str, np.ndarray]: Per-detection (M,) arrays ``score``,
        ``mask_score``, ``pred_iou`` (nan where absent), ``true_iou``,
        ``label``, ``area``, ``img_id`` (and ``category_id``).
    """
    return _metric_module().load_records(dump_file)


def records_from_results(
        results_file: str,
        ann_file: str,
        classes: Optional[Sequence[str]] = None) -> Dict[str, np.ndarray]:
    """Per-detection records from a ``tools/test.py --out`` pickle.

    Args:
        results_file (str): Pickle of a list of data sample dicts (with
            ``img_id`` and ``pred_instances``; masks as RLEs or arrays).
        ann_file (str): COCO annotation json of the same images.
        classes (Sequence[str], optional): Class names of the dataset, to
            map labels to category ids as mmdet does; by default labels map
            to the sorted category ids of ``ann_file``.

    Returns:
        dict[str, np.ndarray]: Same arrays as :func:`load_records`.
    """
    mq = _metric_module()
    with open(results_file, 'rb') as f:
        samples = pickle.load(f)
    coco_api = mq.load_coco(ann_file)
    cat_ids = mq.resolve_cat_ids(coco_api, classes)
    results = [mq.parse_pred_sample(s) for s in samples]
    records = mq.build_records(coco_api, results, cat_ids)
    return {key: records[key] for key in mq.RECORD_KEYS}


def plot_iou_scatter(pred_iou: np.ndarray,
                     true_iou: np.ndarray,
                     out_file: str,
                     ylabel: str = 'predicted MaskIoU',
                     max_points: int = 20000,
                     seed: int = 0) -> float:
    """Scatter predicted vs true MaskIoU (paper Fig. 5).

    Args:
        pred_iou (np.ndarray): (M,) predicted MaskIoU (or score).
        true_iou (np.ndarray): (M,) true MaskIoU.
        out_file (str): PNG path.
        ylabel (str): Label of the y axis.
        max_points (int): At most this many random points are drawn (the
            correlation uses all of them).
        seed (int): Seed of that subsampling.

    Returns:
        float: Pearson correlation of all points (nan if undefined).
    """
    pred_iou = np.asarray(pred_iou, dtype=np.float64).reshape(-1)
    true_iou = np.asarray(true_iou, dtype=np.float64).reshape(-1)
    valid = np.isfinite(pred_iou) & np.isfinite(true_iou)
    pred_iou, true_iou = pred_iou[valid], true_iou[valid]
    corr = _metric_module().correlations(true_iou, pred_iou)[0]
    if pred_iou.size > max_points:
        sel = np.random.default_rng(seed).choice(
            pred_iou.size, max_points, replace=False)
        x, y = true_iou[sel], pred_iou[sel]
    else:
        x, y = true_iou, pred_iou
    fig, ax = plt.subplots(figsize=(5, 5))
    dense = x.size > 2000
    ax.scatter(
        x,
        y,
        s=3 if dense else 12,
        alpha=0.3 if dense else 0.7,
        linewidths=0,
        rasterized=True)
    ax.plot([0, 1], [0, 1], 'k--', lw=1)
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel('MaskIoU with ground truth')
    ax.set_ylabel(ylabel)
    ax.set_title(
        f'{ylabel} vs true MaskIoU: Pearson r = {corr:.3f} '
        f'(n = {pred_iou.size})',
        fontsize=9)
    ax.set_aspect('equal')
    fig.tight_layout()
    _save(fig, out_file)
    return corr


def plot_score_vs_iou(true_iou: np.ndarray,
                      cls_score: np.ndarray,
                      mask_score: np.ndarray,
                      out_file: str,
                      num_bins: int = 10) -> np.ndarray:
    """Average scores per true-MaskIoU bin (paper Fig. 2c).

    Args:
        true_iou (np.ndarray): (M,) true MaskIoU.
        cls_score (np.ndarray): (M,) classification score.
        mask_score (np.ndarray): (M,) mask score (MS R-CNN score).
        out_file (str): PNG path.
        num_bins (int): Number of equal-width true-MaskIoU bins on [0, 1].

    Returns:
        np.ndarray: (3, num_bins): detection count, average classification
        score and average mask score per bin (nan for empty bins).
    """
    true_iou = np.asarray(true_iou, dtype=np.float64).reshape(-1)
    cls_score = np.asarray(cls_score, dtype=np.float64).reshape(-1)
    mask_score = np.asarray(mask_score, dtype=np.float64).reshape(-1)
    binned_means = _metric_module().binned_means
    counts, _, cls_mean = binned_means(true_iou, cls_score, num_bins)
    _, _, mask_mean = binned_means(true_iou, mask_score, num_bins)
    centers = (np.arange(num_bins) + 0.5) / num_bins
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.plot([0, 1], [0, 1], 'k--', lw=1, label='y = x')
    ax.plot(centers, cls_mean, 'o-', label='classification score')
    ax.plot(centers, mask_mean, 's-', label='mask score (MS R-CNN)')
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel('MaskIoU with ground truth')
    ax.set_ylabel('average score')
    ax.set_title(
        f'average score per MaskIoU bin (n = {counts.sum()})', fontsize=9)
    ax.legend(loc='lower right', fontsize=8)
    fig.tight_layout()
    _save(fig, out_file)
    return np.stack([counts.astype(np.float64), cls_mean, mask_mean])


def _save(fig, out_file: str) -> None:
    os.makedirs(osp.dirname(osp.abspath(out_file)), exist_ok=True)
    fig.savefig(out_file, dpi=120)
    plt.close(fig)


def plot_mask_quality(records: Dict[str, np.ndarray],
                      out_dir: str,
                      score_thr: float = 0.05,
                      num_bins: int = 10,
                      prefix: str = '') -> List[str]:
    """Draw both figures from per-detection records.

    Args:
        records (dict[str, np.ndarray]): Output of :func:`load_records` or
            :func:`records_from_results`.
        out_dir (str): Directory of the PNG files.
        score_thr (float): Only detections with classification score above
            it are drawn (as in the metric). Defaults to 0.05.
        num_bins (int): Number of true-MaskIoU bins of Fig. 2c.
        prefix (str): Prefix of the file names.

    Returns:
        list[str]: Paths of ``iou_scatter.png`` and ``score_vs_iou.png``.
    """
    keep = records['score'] > score_thr
    score = records['score'][keep]
    true_iou = records['true_iou'][keep]
    pred_iou = records['pred_iou'][keep]
    has_pred = np.isfinite(pred_iou)
    if has_pred.any():
        ylabel = 'predicted MaskIoU'
        pred_iou, scatter_true = pred_iou[has_pred], true_iou[has_pred]
    else:  # Mask R-CNN: the score is its MaskIoU estimate.
        ylabel = 'classification score'
        pred_iou, scatter_true = score, true_iou
    scatter_file = osp.join(out_dir, f'{prefix}iou_scatter.png')
    calib_file = osp.join(out_dir, f'{prefix}score_vs_iou.png')
    plot_iou_scatter(pred_iou, scatter_true, scatter_file, ylabel=ylabel)
    plot_score_vs_iou(true_iou, score, records['mask_score'][keep], calib_file,
                      num_bins)
    return [scatter_file, calib_file]


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Plot MS R-CNN mask quality figures (paper Fig. 5 and '
        'Fig. 2c).')
    parser.add_argument(
        'input',
        help='MaskQualityMetric dump (.json / .npz) or a results pickle of '
        'tools/test.py --out (.pkl / .pickle, needs --ann-file)')
    parser.add_argument(
        '--ann-file', help='COCO annotation json (for a results pickle)')
    parser.add_argument(
        '--classes',
        nargs='+',
        help='class names of the dataset (for a results pickle; default: '
        'labels map to the sorted category ids)')
    parser.add_argument(
        '--out-dir', default='.', help='directory of the PNG files')
    parser.add_argument('--score-thr', type=float, default=0.05)
    parser.add_argument('--num-bins', type=int, default=10)
    parser.add_argument('--prefix', default='', help='file name prefix')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> List[str]:
    args = parse_args(argv)
    if args.input.endswith(('.pkl', '.pickle')):
        if args.ann_file is None:
            raise SystemExit('--ann-file is required for a results pickle')
        records = records_from_results(args.input, args.ann_file, args.classes)
    else:
        records = load_records(args.input)
    files = plot_mask_quality(records, args.out_dir, args.score_thr,
                              args.num_bins, args.prefix)
    for file in files:
        print(file)
    return files


if __name__ == '__main__':
    main()
