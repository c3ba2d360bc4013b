"""Mask quality metric: how well predicted MaskIoU tracks the true MaskIoU.

Mask Scoring R-CNN (Huang et al., CVPR 2019) rescores each mask with
``mask_score = cls_score * predicted_MaskIoU``. This module measures how good
that rescoring is on a COCO-style annotation file:

* every detection is matched to the non-crowd ground truth of its class in
  its image with the highest mask IoU, which gives its *true* MaskIoU;
* Pearson / Spearman correlation of the predicted MaskIoU (and, for
  comparison, of the classification score) with the true MaskIoU;
* expected calibration error (ECE) of the final mask score against the true
  MaskIoU;
* segm AP with the mask score and with an *oracle* score built from the true
  MaskIoU, which shows the headroom of perfect mask scoring.

The helpers (:func:`match_true_ious`, :func:`build_records`,
:func:`correlations`, :func:`expected_calibration_error`,
:func:`coco_segm_stats`) are plain functions so that analysis scripts (e.g.
``tools/analysis/plot_mask_quality.py``) share the same matching code.
"""
import contextlib
import io
import json
import os
import os.path as osp
import warnings
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import pycocotools.mask as mask_util
import torch
from mmengine.evaluator import BaseMetric
from mmengine.fileio import get_local_path
from mmengine.logging import MMLogger
from mmengine.structures import BaseDataElement
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
from scipy import stats

from ..registry import METRICS

#: Names of the 12 ``COCOeval.stats`` entries (default ``maxDets`` 1/10/100).
COCO_STAT_NAMES = ('mAP', 'mAP_50', 'mAP_75', 'mAP_s', 'mAP_m', 'mAP_l',
                   'AR@1', 'AR@10', 'AR@100', 'AR_s@100', 'AR_m@100',
                   'AR_l@100')

#: Per-detection arrays written to the dump file.
RECORD_KEYS = ('img_id', 'label', 'category_id', 'score', 'mask_score',
               'pred_iou', 'true_iou', 'area')

ORACLES = ('score_x_true_iou', 'true_iou')


def coco_stat_names(
        max_dets: Sequence[int] = (1, 10, 100)) -> Tuple[str, ...]:
    """Names of the 12 stats of :func:`coco_segm_stats` for ``max_dets``.

    Args:
        max_dets (Sequence[int]): The three ``maxDets`` of the evaluation.

    Returns:
        tuple[str]: :data:`COCO_STAT_NAMES` for the default 1/10/100, else
        the same with the AR suffixes following ``max_dets``.
    """
    small, mid, large = max_dets
    return COCO_STAT_NAMES[:6] + (f'AR@{small}', f'AR@{mid}', f'AR@{large}',
                                  f'AR_s@{large}', f'AR_m@{large}',
                                  f'AR_l@{large}')


def _to_numpy(x) -> np.ndarray:
    """Convert a tensor / array / sequence to a numpy array."""
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def encode_masks(masks) -> List[dict]:
    """Encode binary masks to COCO RLEs with ``str`` counts.

    Args:
        masks (Tensor | np.ndarray | list[dict] | BitmapMasks): N binary
            masks of shape (N, H, W), or N RLE dicts (already encoded, as in
            a results pickle written by mmdet's ``DumpDetResults``).

    Returns:
        list[dict]: N RLE dicts with keys ``size`` ([H, W]) and ``counts``
        (``str``).
    """
    is_seq = isinstance(masks, (list, tuple))
    if is_seq and (len(masks) == 0 or isinstance(masks[0], dict)):
        rles = [dict(m) for m in masks]
    else:
        if is_seq:  # N (H, W) arrays
            masks = np.stack([_to_numpy(m) for m in masks])
        is_array = isinstance(masks, (torch.Tensor, np.ndarray))
        if not is_array and hasattr(masks, 'masks'):
            masks = masks.masks  # mmdet BitmapMasks
        masks = _to_numpy(masks)
        if masks.ndim != 3:
            raise ValueError('masks must have shape (N, H, W), got '
                             f'{masks.shape}')
        if masks.shape[0] == 0:
            return []
        # (N, H, W) -> Fortran-ordered (H, W, N) uint8, as pycocotools wants.
        masks_hwn = np.asfortranarray(
            masks.transpose(1, 2, 0).astype(np.uint8))
        rles = mask_util.encode(masks_hwn)
    for rle in rles:
        if isinstance(rle['counts'], bytes):
            rle['counts'] = rle['counts'].decode()
    return rles


def rle_areas(rles: Sequence[dict]) -> np.ndarray:
    """Pixel areas of RLEs, in chunks of 255.

    pycocotools' ``area`` overflows (``OverflowError`` under NumPy 2) when
    given 256 or more RLEs at once.

    Args:
        rles (Sequence[dict]): N RLE dicts.

    Returns:
        np.ndarray: (N,) float64 areas.
    """
    parts = [
        np.asarray(mask_util.area(list(rles[i:i + 255])), dtype=np.float64)
        for i in range(0, len(rles), 255)
    ]
    return np.concatenate(parts) if parts else np.zeros(0)


def parse_pred_sample(data_sample) -> dict:
    """Extract what the metric needs from one predicted data sample.

    Args:
        data_sample (dict | DetDataSample): A data sample as the evaluator
            passes it (``DetDataSample.to_dict()``) or as stored in a
            results pickle of mmdet's ``tools/test.py --out``. It must have
            ``img_id`` and ``pred_instances`` with ``scores`` (N,),
            ``labels`` (N,) and ``masks`` ((N, H, W) binary masks or N RLE
            dicts); ``mask_ious`` (N,) and ``mask_scores`` (N,) are
            optional (MS R-CNN has them, Mask R-CNN does not).

    Returns:
        dict: ``img_id`` (int), ``scores`` (N,) float64, ``labels`` (N,)
        int64, ``masks`` (list of N RLE dicts), ``mask_ious`` and
        ``mask_scores`` ((N,) float64 or None).
    """
    if isinstance(data_sample, BaseDataElement):
        data_sample = data_sample.to_dict()
    pred = data_sample['pred_instances']
    if isinstance(pred, BaseDataElement):
        pred = pred.to_dict()
    if 'masks' not in pred:
        raise KeyError('MaskQualityMetric needs `pred_instances.masks`.')
    result = dict(
        img_id=int(data_sample['img_id']),
        scores=_to_numpy(pred['scores']).astype(np.float64).reshape(-1),
        labels=_to_numpy(pred['labels']).astype(np.int64).reshape(-1),
        masks=encode_masks(pred['masks']))
    for key in ('mask_ious', 'mask_scores'):
        result[key] = None
        if key in pred:
            result[key] = _to_numpy(pred[key]).astype(np.float64).reshape(-1)
    num = len(result['scores'])
    for key in ('labels', 'masks', 'mask_ious', 'mask_scores'):
        if result[key] is not None and len(result[key]) != num:
            raise ValueError(f'pred_instances.{key} has {len(result[key])} '
                             f'entries but there are {num} scores.')
    return result


def load_coco(ann_file: str, backend_args: Optional[dict] = None) -> COCO:
    """Load a COCO annotation file with pycocotools (silently).

    Args:
        ann_file (str): Path (or URI understood by mmengine) of the json.
        backend_args (dict, optional): mmengine file backend arguments.

    Returns:
        COCO: The pycocotools API object.

    Raises:
        FileNotFoundError: A local ``ann_file`` that does not exist.
        ValueError: A file that is not JSON, or not a COCO instances file.
    """
    from ..datasets.checked_coco import CheckedCOCO
    if '://' not in str(ann_file) and not osp.isfile(ann_file):
        raise FileNotFoundError(
            f'MaskQualityMetric: ann_file {ann_file!r} does not exist. Set '
            'the metric\'s ann_file to the COCO json of the evaluated split '
            '(as CocoMetric\'s); for the demo configs, generate the data set '
            'first (`python tools/dataset_converters/make_shapes.py` or '
            '`make demo`).')
    with get_local_path(ann_file, backend_args=backend_args) as local_path:
        with contextlib.redirect_stdout(io.StringIO()):
            return CheckedCOCO(local_path)


def resolve_cat_ids(coco_api: COCO,
                    classes: Optional[Sequence[str]] = None) -> List[int]:
    """Map contiguous labels to COCO category ids.

    Follows mmdet's ``CocoDataset`` / ``CocoMetric``: with class names the
    ids are ``coco_api.getCatIds(catNms=classes)`` (in the order of the
    annotation file's ``categories``), and label ``i`` is the ``i``-th id.
    Without class names the sorted category ids of the file are used.

    Args:
        coco_api (COCO): Ground truth API.
        classes (Sequence[str], optional): Class names of the dataset.

    Returns:
        list[int]: Category id of each label.
    """
    if not classes:
        return sorted(coco_api.getCatIds())
    cat_ids = coco_api.getCatIds(catNms=list(classes))
    if len(cat_ids) != len(classes):
        names = {cat['name'] for cat in coco_api.loadCats(cat_ids)}
        missing = [c for c in classes if c not in names]
        raise ValueError(f'Classes {missing} are not categories of the '
                         'annotation file.')
    return list(cat_ids)


def match_true_ious(coco_api: COCO, img_id: int, masks,
                    category_ids: Sequence[int]) -> np.ndarray:
    """True MaskIoU of each detection of one image.

    Each detection is compared with the non-crowd ground truths of its
    category in the image; its true MaskIoU is the highest mask IoU (0 when
    the image has no such ground truth). Several detections may share a
    ground truth: this is the per-detection regression target of MS R-CNN,
    not an AP-style one-to-one assignment.

    Args:
        coco_api (COCO): Ground truth API.
        img_id (int): Image id in ``coco_api``.
        masks (list[dict] | Tensor | np.ndarray): N predicted masks, as RLEs
            or binary masks of shape (N, H, W) at the original image size.
        category_ids (Sequence[int]): (N,) COCO category id of each
            detection.

    Returns:
        np.ndarray: (N,) float64 true MaskIoU in [0, 1].
    """
    rles = encode_masks(masks)
    category_ids = np.asarray(category_ids, dtype=np.int64).reshape(-1)
    if len(rles) != len(category_ids):
        raise ValueError(f'{len(rles)} masks but {len(category_ids)} '
                         'category ids.')
    true_ious = np.zeros(len(rles), dtype=np.float64)
    if len(rles) == 0:
        return true_ious
    gt_anns = [
        ann for ann in coco_api.imgToAnns.get(img_id, [])
        if not ann.get('iscrowd', 0)
    ]
    for cat_id in np.unique(category_ids):
        gts = [ann for ann in gt_anns if ann['category_id'] == cat_id]
        if not gts:
            continue
        gt_rles = [coco_api.annToRLE(ann) for ann in gts]
        det_idx = np.flatnonzero(category_ids == cat_id)
        det_rles = [rles[i] for i in det_idx]
        gt_size = list(gt_rles[0]['size'])
        for rle in det_rles:
            if list(rle['size']) != gt_size:
                raise ValueError(
                    f'Image {img_id}: predicted mask size {rle["size"]} '
                    f'differs from the ground truth size {gt_size}; masks '
                    'must be at the original image scale.')
        # (num_dets, num_gts); iscrowd flags 0 -> plain IoU.
        ious = np.asarray(
            mask_util.iou(det_rles, gt_rles, [0] * len(gt_rles)),
            dtype=np.float64).reshape(len(det_rles), len(gt_rles))
        true_ious[det_idx] = ious.max(axis=1)
    return true_ious


def build_records(coco_api: COCO, results: Sequence[dict],
                  cat_ids: Sequence[int]) -> Dict[str, object]:
    """Per-detection records of a whole evaluation.

    Args:
        coco_api (COCO): Ground truth API.
        results (Sequence[dict]): Outputs of :func:`parse_pred_sample`, one
            per image.
        cat_ids (Sequence[int]): Category id of each contiguous label.

    Returns:
        dict: With M detections in all, (M,) numpy arrays ``img_id``,
        ``label``, ``category_id`` (int64), ``score`` (classification
        score), ``mask_score`` (``mask_scores`` if given, else ``score``),
        ``pred_iou`` (``mask_ious``, nan where not given), ``true_iou``,
        ``area`` (pixels of the predicted mask), all float64 but the ids,
        and ``rles``, the list of M predicted RLEs.
    """
    cat_ids = np.asarray(cat_ids, dtype=np.int64)
    cols = {key: [] for key in RECORD_KEYS}
    rles = []
    for res in results:
        num = len(res['scores'])
        labels = res['labels']
        if num and (labels.min() < 0 or labels.max() >= len(cat_ids)):
            raise ValueError(f'Image {res["img_id"]}: labels out of range '
                             f'for {len(cat_ids)} classes.')
        cats = cat_ids[labels]
        cols['img_id'].append(np.full(num, res['img_id'], dtype=np.int64))
        cols['label'].append(labels)
        cols['category_id'].append(cats)
        cols['score'].append(res['scores'])
        cols['mask_score'].append(res['mask_scores'] if res['mask_scores']
                                  is not None else res['scores'])
        cols['pred_iou'].append(res['mask_ious'] if res['mask_ious']
                                is not None else np.full(num, np.nan))
        cols['true_iou'].append(
            match_true_ious(coco_api, res['img_id'], res['masks'], cats))
        areas = rle_areas(res['masks'])
        cols['area'].append(np.asarray(areas, dtype=np.float64))
        rles.extend(res['masks'])
    records = {}
    for key, parts in cols.items():
        dtype = np.int64 if key in ('img_id', 'label',
                                    'category_id') else np.float64
        records[key] = np.concatenate(parts).astype(dtype) if parts \
            else np.zeros(0, dtype=dtype)
    records['rles'] = rles
    return records


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


def coco_segm_stats(
        coco_api: COCO,
        records: Dict[str, object],
        scores,
        cat_ids: Optional[Sequence[int]] = None,
        img_ids: Optional[Sequence[int]] = None,
        max_dets: Sequence[int] = (1, 10, 100)) -> Tuple[np.ndarray, str]:
    """Run pycocotools' segm COCOeval with the given detection scores.

    Every AP stat (``mAP`` too, which pycocotools' ``summarize`` always
    takes at 100 detections) is taken at the largest of ``max_dets``, so
    with the default 1/10/100 the stats are pycocotools' own.

    Args:
        coco_api (COCO): Ground truth API.
        records (dict): Output of :func:`build_records` (uses ``img_id``,
            ``category_id`` and ``rles``).
        scores (array-like): (M,) score of each detection.
        cat_ids (Sequence[int], optional): Categories to evaluate. Defaults
            to all of ``coco_api``.
        img_ids (Sequence[int], optional): Images to evaluate. Defaults to
            all of ``coco_api`` (as mmdet's ``CocoMetric``).
        max_dets (Sequence[int]): Three increasing detection limits per
            image (``COCOeval.params.maxDets``). Defaults to (1, 10, 100).

    Returns:
        tuple[np.ndarray, str]: ``COCOeval.stats`` (12,) (nan when there
        are no detections) and the summary text pycocotools printed.
    """
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    dets = []
    for i, rle in enumerate(records['rles']):
        dets.append(
            dict(
                image_id=int(records['img_id'][i]),
                category_id=int(records['category_id'][i]),
                segmentation=rle,
                score=float(scores[i])))
    if not dets:
        return np.full(len(COCO_STAT_NAMES), np.nan), ''
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        coco_dt = coco_api.loadRes(dets)
        coco_eval = COCOeval(coco_api, coco_dt, 'segm')
        if cat_ids is not None:
            coco_eval.params.catIds = list(cat_ids)
        if img_ids is not None:
            coco_eval.params.imgIds = list(img_ids)
        coco_eval.params.maxDets = [int(m) for m in max_dets]
        coco_eval.evaluate()
        coco_eval.accumulate()
        coco_eval.summarize()
    coco_stats = np.asarray(coco_eval.stats, dtype=np.float64)
    summary = buf.getvalue()
    if int(max_dets[-1]) != 100:
        # precision: (iou, recall, class, area range 'all', maxDets[-1])
        precision = coco_eval.eval['precision'][:, :, :, 0, -1]
        valid = precision[precision > -1]
        coco_stats[0] = float(np.mean(valid)) if valid.size else -1.
        summary += (' Average Precision  (AP) @[ IoU=0.50:0.95 | area='
                    f'   all | maxDets={max_dets[-1]:>3d} ] = '
                    f'{coco_stats[0]:0.3f}\n')
    return coco_stats, summary


def dump_records(records: Dict[str, object], out_file: str) -> None:
    """Write the per-detection arrays of :data:`RECORD_KEYS`.

    ``.npz`` files are written with :func:`numpy.savez`; any other suffix
    gives a json object of lists (nan written as ``null``).

    Args:
        records (dict): Output of :func:`build_records`.
        out_file (str): Destination path.
    """
    out_dir = osp.dirname(osp.abspath(out_file))
    os.makedirs(out_dir, exist_ok=True)
    arrays = {key: np.asarray(records[key]) for key in RECORD_KEYS}
    if out_file.endswith('.npz'):
        np.savez(out_file, **arrays)
        return
    data = {}
    for key, arr in arrays.items():
        if arr.dtype.kind == 'f':
            data[key] = [
                None if not np.isfinite(v) else float(v) for v in arr.tolist()
            ]
        else:
            data[key] = [int(v) for v in arr.tolist()]
    with open(out_file, 'w') as f:
        json.dump(data, f)


def load_records(dump_file: str) -> Dict[str, np.ndarray]:
    """Read a dump written by :func:`dump_records`.

    Args:
        dump_file (str): ``.npz`` or json path.

    Returns:
        dict[str, np.ndarray]: The (M,) arrays of :data:`RECORD_KEYS`
        (``null`` in json read back as nan).
    """
    if dump_file.endswith('.npz'):
        with np.load(dump_file) as data:
            return {key: data[key] for key in data.files}
    with open(dump_file) as f:
        data = json.load(f)
    records = {}
    for key, values in data.items():
        if key in ('img_id', 'label', 'category_id'):
            records[key] = np.asarray(values, dtype=np.int64)
        else:
            records[key] = np.asarray(values, dtype=np.float64)
    return records


@METRICS.register_module()
class MaskQualityMetric(BaseMetric):
    """Quality of predicted MaskIoU and mask scores (MS R-CNN analysis).

    For each detection the true MaskIoU is the highest mask IoU with the
    non-crowd ground truths of its class in its image (0 if there is none),
    see :func:`match_true_ious`. Then, over the detections whose
    classification score is above ``score_thr``:

    - ``pearson_iou`` / ``spearman_iou``: correlation of the predicted
      MaskIoU (``mask_ious``; the classification score for models without
      it, e.g. Mask R-CNN) with the true MaskIoU;
    - ``pearson_cls`` / ``spearman_cls``: same for the classification
      score;
    - ``pearson_mask_score`` / ``spearman_mask_score``: same for the final
      mask score (what ranks masks in segm AP).
    - ``pearson_iou_hits`` / ``pearson_cls_hits``: predicted MaskIoU resp.
      classification score vs true MaskIoU over the detections whose true
      MaskIoU is above 0 (false positives left out).
    - ``ece``: calibration error of the final mask score (``mask_scores``,
      else ``scores``) as an estimate of the true MaskIoU, with
      ``num_bins`` equal-width bins on [0, 1];
    - ``num_dets``: number of such detections (``num_dets_all``: all).

    Over all detections and all images of ``ann_file`` (as mmdet's
    ``CocoMetric``), pycocotools' segm COCOeval with default parameters
    (maxDets ``max_dets``, 1/10/100 by default) gives ``segm_mAP``,
    ``segm_mAP_50``, ..., ``segm_AR_l@100`` (the 12 stats of
    :data:`COCO_STAT_NAMES`, AR names following ``max_dets``) with the
    mask score, ``oracle_segm_*`` with the oracle score: ``cls_score *
    true_iou`` (``oracle='score_x_true_iou'``) or ``true_iou``
    (``oracle='true_iou'``), and ``score_segm_*`` with ``scores`` alone
    (the classification score): the same masks ranked as Mask R-CNN ranks
    them, so ``segm_mAP - score_segm_mAP`` is the AP the MaskIoU rescoring
    adds to one trained model, free of the training-seed noise that a
    comparison of two separately trained models carries. For results
    without ``mask_scores`` (Mask R-CNN) it equals ``segm_*`` and is not
    evaluated twice.

    Contiguous labels are mapped to category ids as in mmdet's
    ``CocoMetric`` (``dataset_meta['classes']`` looked up in the file's
    categories), or to the sorted category ids when there is no
    ``dataset_meta``.

    Args:
        ann_file (str): COCO-format annotation json with mask annotations.
        score_thr (float): Only detections with classification score above
            it count for correlations and calibration. Defaults to 0.05.
        num_bins (int): Number of calibration bins. Defaults to 10.
        oracle (str): ``'score_x_true_iou'`` or ``'true_iou'``. Defaults to
            ``'score_x_true_iou'``.
        max_dets (Sequence[int]): Three increasing detection limits per
            image of the segm COCOeval; every AP stat is taken at the last.
            Raise it for images with more than 100 instances (mmdet's
            ``CocoMetric`` takes ``proposal_nums``, 100/300/1000 by default,
            but its ``mAP`` at 100). Defaults to (1, 10, 100).
        dump_file (str, optional): If set, per-detection arrays
            (:data:`RECORD_KEYS`) are written there, as ``.npz`` or json
            (see :func:`dump_records`). Defaults to None.
        backend_args (dict, optional): mmengine file backend arguments for
            reading ``ann_file``. Defaults to None.
        collect_device (str): ``'cpu'`` or ``'gpu'``, device used to
            collect results across ranks. Defaults to ``'cpu'``.
        prefix (str, optional): Prefix of the metric names. Defaults to
            ``default_prefix`` (``'mask_quality'``).
    """
    default_prefix: Optional[str] = 'mask_quality'

    def __init__(self,
                 ann_file: str,
                 score_thr: float = 0.05,
                 num_bins: int = 10,
                 oracle: str = 'score_x_true_iou',
                 max_dets: Sequence[int] = (1, 10, 100),
                 dump_file: Optional[str] = None,
                 backend_args: Optional[dict] = None,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if oracle not in ORACLES:
            raise ValueError(f'oracle must be one of {ORACLES}, got '
                             f'{oracle!r}.')
        if int(num_bins) < 1:
            raise ValueError(f'num_bins must be positive, got {num_bins}.')
        max_dets = tuple(int(m) for m in max_dets)
        if len(max_dets) != 3 or not 0 < max_dets[0] < max_dets[1] < \
                max_dets[2]:
            raise ValueError('max_dets must be three increasing positive '
                             f'ints, got {max_dets}.')
        self.max_dets = max_dets
        self.ann_file = ann_file
        self.score_thr = float(score_thr)
        self.num_bins = int(num_bins)
        self.oracle = oracle
        self.dump_file = dump_file
        self.backend_args = backend_args
        self._coco_api = load_coco(ann_file, backend_args=backend_args)
        self.cat_ids: Optional[List[int]] = None

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """Store the predictions of a batch, masks encoded as RLEs.

        Args:
            data_batch (dict): A batch from the dataloader (unused).
            data_samples (Sequence[dict]): Predicted data samples, see
                :func:`parse_pred_sample`.
        """
        for data_sample in data_samples:
            self.results.append(parse_pred_sample(data_sample))

    def _get_cat_ids(self) -> List[int]:
        if self.cat_ids is None:
            classes = None
            if self.dataset_meta is not None:
                classes = self.dataset_meta.get('classes')
            self.cat_ids = resolve_cat_ids(self._coco_api, classes)
        return self.cat_ids

    def oracle_scores(self, records: Dict[str, np.ndarray]) -> np.ndarray:
        """Oracle rescoring of each detection.

        Args:
            records (dict): Output of :func:`build_records`.

        Returns:
            np.ndarray: (M,) ``score * true_iou`` or ``true_iou``.
        """
        if self.oracle == 'true_iou':
            return records['true_iou'].copy()
        return records['score'] * records['true_iou']

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """Compute the metrics from the stored per-image results.

        Args:
            results (list[dict]): Outputs of :func:`parse_pred_sample`.

        Returns:
            dict[str, float]: Metric name (without prefix) to value.
        """
        logger: MMLogger = MMLogger.get_current_instance()
        cat_ids = self._get_cat_ids()
        records = build_records(self._coco_api, results, cat_ids)
        if self.dump_file is not None:
            dump_records(records, self.dump_file)
            logger.info(f'Per-detection mask quality records written to '
                        f'{self.dump_file}')

        keep = records['score'] > self.score_thr
        true_iou = records['true_iou'][keep]
        pred_iou = records['pred_iou'][keep]
        # Models without a MaskIoU head: the classification score is their
        # MaskIoU estimate.
        pred_iou = np.where(
            np.isnan(pred_iou), records['score'][keep], pred_iou)
        eval_results = {}
        eval_results['pearson_iou'], eval_results['spearman_iou'] = \
            correlations(pred_iou, true_iou)
        eval_results['pearson_cls'], eval_results['spearman_cls'] = \
            correlations(records['score'][keep], true_iou)
        eval_results['pearson_mask_score'], \
            eval_results['spearman_mask_score'] = correlations(
                records['mask_score'][keep], true_iou)
        # on detections that overlap an object of their class (true IoU >
        # 0): how well mask quality is ranked once false positives are out
        hit = true_iou > 0
        eval_results['pearson_iou_hits'], _ = correlations(
            pred_iou[hit], true_iou[hit])
        eval_results['pearson_cls_hits'], _ = correlations(
            records['score'][keep][hit], true_iou[hit])
        eval_results['ece'] = expected_calibration_error(
            records['mask_score'][keep], true_iou, self.num_bins)
        eval_results['num_dets'] = int(keep.sum())
        eval_results['num_dets_all'] = int(keep.size)

        img_ids = self._coco_api.getImgIds()
        rankings = [('segm', records['mask_score']),
                    ('oracle_segm', self.oracle_scores(records))]
        rescored = not np.array_equal(records['mask_score'], records['score'])
        if rescored:
            rankings.append(('score_segm', records['score']))
        for name, scores in rankings:
            coco_stats, summary = coco_segm_stats(self._coco_api, records,
                                                  scores, cat_ids, img_ids,
                                                  self.max_dets)
            if not records['rles']:
                logger.warning('No detections: segm AP is nan.')
            else:
                logger.info(f'{name} ({len(records["rles"])} detections):'
                            f'\n{summary}')
            for stat_name, value in zip(
                    coco_stat_names(self.max_dets), coco_stats):
                eval_results[f'{name}_{stat_name}'] = float(value)

        if not rescored:  # ranked by `scores` already: the same numbers
            for stat_name in coco_stat_names(self.max_dets):
                eval_results[f'score_segm_{stat_name}'] = \
                    eval_results[f'segm_{stat_name}']
        logger.info('mask quality: ' + ', '.join(
            f'{k}={v:.4f}' if isinstance(v, float) else f'{k}={v}'
            for k, v in eval_results.items()
            if not k.startswith(('segm_A', 'oracle_segm_A', 'score_segm_A'))))
        return eval_results
