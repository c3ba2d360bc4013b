"""Segm AP / AR with given detection scores (a pycocotools COCOeval run)."""
import contextlib
import io
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

#: Names of the 12 ``COCOeval.stats`` entries (default ``maxDets`` 1/10/100).
COCO_STAT_NAMES = ('mAP', 'mAP_50', 'mAP_75', 'mAP_s', 'mAP_m', 'mAP_l',
                   'AR@1', 'AR@10', 'AR@100', 'AR_s@100', 'AR_m@100',
                   'AR_l@100')


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
