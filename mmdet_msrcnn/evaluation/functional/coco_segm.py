"""Segm AP / AR with given detection scores (a pycocotools COCOeval run)."""
import contextlib
import io
from typing import Dict, NamedTuple, Optional, Sequence, Tuple

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

#: Names of the 12 ``COCOeval.stats`` entries (default ``maxDets`` 1/10/100).
COCO_STAT_NAMES = ('mAP', 'mAP_50', 'mAP_75', 'mAP_s', 'mAP_m', 'mAP_l',
                   'AR@1', 'AR@10', 'AR@100', 'AR_s@100', 'AR_m@100',
                   'AR_l@100')

#: COCOeval's IoU thresholds, 0.5:0.05:0.95.
IOU_THRS = tuple(round(0.5 + 0.05 * i, 2) for i in range(10))


def per_iou_stat_names() -> Tuple[str, ...]:
    """Names of the AP at each of :data:`IOU_THRS`: ``mAP_50`` ... ``mAP_95``.

    ``mAP_50`` and ``mAP_75`` are also names of :data:`COCO_STAT_NAMES`
    (the same numbers).
    """
    return tuple(f'mAP_{round(100 * t):d}' for t in IOU_THRS)


class SegmEvaluation(NamedTuple):
    """One segm COCOeval run.

    Attributes:
        stats (np.ndarray): (12,) ``COCOeval.stats``, every AP at the last
            ``maxDets`` (see :func:`coco_segm_stats`); nan without
            detections.
        ap_per_iou (np.ndarray): (10,) AP at each of :data:`IOU_THRS`
            (area 'all', the last ``maxDets``); their mean is
            ``stats[0]``. nan without detections.
        summary (str): What pycocotools printed.
    """
    stats: np.ndarray
    ap_per_iou: np.ndarray
    summary: str


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
        records (dict): Output of :func:`~.records.build_records` (uses
            the (M,) ``img_id`` and ``category_id`` and the M ``rles``).
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
    result = coco_segm_evaluation(coco_api, records, scores, cat_ids,
                                  img_ids, max_dets)
    return result.stats, result.summary


def coco_segm_evaluation(
        coco_api: COCO,
        records: Dict[str, object],
        scores,
        cat_ids: Optional[Sequence[int]] = None,
        img_ids: Optional[Sequence[int]] = None,
        max_dets: Sequence[int] = (1, 10, 100)) -> SegmEvaluation:
    """:func:`coco_segm_stats` and the AP at every IoU threshold.

    Args: as :func:`coco_segm_stats`.

    Returns:
        SegmEvaluation: The stats, the (10,) AP per IoU threshold and the
        printed summary.
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
        return SegmEvaluation(
            np.full(len(COCO_STAT_NAMES), np.nan),
            np.full(len(IOU_THRS), np.nan), '')
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
    # precision: (iou, recall, class, area range 'all', maxDets[-1])
    precision = coco_eval.eval['precision'][:, :, :, 0, -1]
    ap_per_iou = np.array([
        float(np.mean(p[p > -1])) if (p > -1).any() else -1.
        for p in precision
    ])
    if int(max_dets[-1]) != 100:
        valid = precision[precision > -1]
        coco_stats[0] = float(np.mean(valid)) if valid.size else -1.
        summary += (' Average Precision  (AP) @[ IoU=0.50:0.95 | area='
                    f'   all | maxDets={max_dets[-1]:>3d} ] = '
                    f'{coco_stats[0]:0.3f}\n')
    return SegmEvaluation(coco_stats, ap_per_iou, summary)
