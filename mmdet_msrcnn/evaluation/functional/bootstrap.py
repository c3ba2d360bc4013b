"""Image-bootstrap intervals of segm AP for rankings of one set of masks.

A paired comparison on one checkpoint (cls score vs mask score vs oracle,
or two heads scoring the same detections) removes the detector's training
noise, but not the noise of *which images* were evaluated: the same model
can recover a different share of the oracle headroom on another sample of
images of the same distribution. These functions measure that: pycocotools'
per-image matching is run once per ranking (:func:`segm_matches`), then the
images are resampled with replacement and COCO's accumulation is redone
for each resample (:func:`resampled_ap`), the same resample for every
ranking, so that differences between rankings are paired per resample
(:func:`bootstrap_ap`).

An image drawn ``c`` times counts its detections and its ground truth
``c`` times: each detection carries the weight of its image in the
cumulative true / false positive counts. This is COCOeval's accumulation
of the resampled image list, up to the order of detections whose scores
tie exactly; with every image drawn once it is COCOeval's own result.
"""
import contextlib
import io
from typing import Dict, List, NamedTuple, Optional, Sequence

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval


class CategoryMatches(NamedTuple):
    """One category's detections of all images, in COCOeval's order.

    Attributes:
        img_index (np.ndarray): (D,) index into ``SegmMatches.img_ids`` of
            each detection, the detections sorted by decreasing score.
        true_pos (np.ndarray): (T, D) bool, matched and not ignored, per
            IoU threshold.
        false_pos (np.ndarray): (T, D) bool, unmatched and not ignored.
        num_gt (np.ndarray): (I,) non-ignored ground truths per image.
    """
    img_index: np.ndarray
    true_pos: np.ndarray
    false_pos: np.ndarray
    num_gt: np.ndarray


class SegmMatches(NamedTuple):
    """pycocotools' per-image segm matching of one ranking (area 'all').

    Attributes:
        img_ids (np.ndarray): (I,) evaluated image ids, sorted.
        iou_thrs (np.ndarray): (T,) IoU thresholds (0.5:0.05:0.95).
        rec_thrs (np.ndarray): (R,) recall thresholds (0:0.01:1).
        categories (list[CategoryMatches]): One per evaluated category.
    """
    img_ids: np.ndarray
    iou_thrs: np.ndarray
    rec_thrs: np.ndarray
    categories: List[CategoryMatches]


def segm_matches(coco_api: COCO,
                 records: Dict[str, object],
                 scores,
                 img_ids: Optional[Sequence[int]] = None,
                 max_det: int = 100) -> SegmMatches:
    """Match the masks ranked by ``scores`` to the ground truth, per image.

    Args:
        coco_api (COCO): Ground truth API.
        records (dict): Records with ``img_id``, ``category_id`` and
            ``rles`` of M detections (:func:`~.records.load_records`).
        scores (array-like): (M,) score of each detection; it orders the
            greedy matching in each image and the accumulation.
        img_ids (Sequence[int], optional): Images to evaluate. Defaults to
            all of ``coco_api``.
        max_det (int): Detections kept per image and category, by score
            (COCOeval's largest ``maxDets``). Defaults to 100.

    Returns:
        SegmMatches: What :func:`resampled_ap` accumulates.

    Raises:
        ValueError: ``scores`` not of the records' length, or no
            detections.
    """
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if len(scores) != len(records['rles']):
        raise ValueError(f'{len(scores)} scores for '
                         f'{len(records["rles"])} detections.')
    if not len(scores):
        raise ValueError('No detections to match: an evaluation without '
                         'detections has no AP to resample.')
    dets = [
        dict(image_id=int(records['img_id'][i]),
             category_id=int(records['category_id'][i]),
             segmentation=rle, score=float(scores[i]))
        for i, rle in enumerate(records['rles'])
    ]
    with contextlib.redirect_stdout(io.StringIO()):
        coco_eval = COCOeval(coco_api, coco_api.loadRes(dets), 'segm')
        if img_ids is not None:
            coco_eval.params.imgIds = list(img_ids)
        coco_eval.params.maxDets = [1, 10, int(max_det)]
        coco_eval.evaluate()
    params = coco_eval.params  # imgIds / catIds now sorted and unique
    num_img, num_area = len(params.imgIds), len(params.areaRng)
    num_thr = len(params.iouThrs)
    categories = []
    for k in range(len(params.catIds)):
        # evalImgs is ordered category, area range, image; area 0 is 'all'
        per_img = coco_eval.evalImgs[k * num_area * num_img:
                                     k * num_area * num_img + num_img]
        num_gt = np.zeros(num_img, dtype=np.int64)
        index, det_scores, matched, ignored = [], [], [], []
        for i, e in enumerate(per_img):
            if e is None:
                continue
            num_gt[i] = int(np.count_nonzero(e['gtIgnore'] == 0))
            index.append(np.full(len(e['dtScores']), i, dtype=np.int64))
            det_scores.append(np.asarray(e['dtScores'], dtype=np.float64))
            matched.append(e['dtMatches'].reshape(num_thr, -1) > 0)
            ignored.append(e['dtIgnore'].reshape(num_thr, -1).astype(bool))
        if index:
            order = np.argsort(-np.concatenate(det_scores), kind='mergesort')
            index = np.concatenate(index)[order]
            matched = np.concatenate(matched, axis=1)[:, order]
            ignored = np.concatenate(ignored, axis=1)[:, order]
        else:
            index = np.zeros(0, dtype=np.int64)
            matched = ignored = np.zeros((num_thr, 0), dtype=bool)
        categories.append(
            CategoryMatches(index, matched & ~ignored, ~matched & ~ignored,
                            num_gt))
    return SegmMatches(
        np.asarray(params.imgIds), np.asarray(params.iouThrs),
        np.asarray(params.recThrs), categories)


def resampled_ap_per_iou(matches: SegmMatches, counts) -> np.ndarray:
    """COCO segm AP at each IoU threshold, each image counted ``counts`` times.

    Args:
        matches (SegmMatches): Output of :func:`segm_matches`.
        counts (array-like): (I,) non-negative times each image of
            ``matches.img_ids`` is drawn; all ones is the evaluation of
            every image once.

    Returns:
        np.ndarray: (T,) AP at each of ``matches.iou_thrs`` (over the
        categories with ground truth in the resample; COCOeval's
        ``precision[t, :, :, 0, -1]`` averaged); nan where no category
        has ground truth. Their mean is the COCO mAP.
    """
    counts = np.asarray(counts, dtype=np.float64)
    if counts.shape != matches.img_ids.shape or (counts < 0).any():
        raise ValueError(f'counts must be {len(matches.img_ids)} '
                         'non-negative image multiplicities.')
    precisions = []  # (T, R) per category with ground truth
    for cat in matches.categories:
        num_gt = float(counts @ cat.num_gt)
        if num_gt == 0:
            continue
        weight = counts[cat.img_index]
        tp = np.cumsum(cat.true_pos * weight, axis=1)
        fp = np.cumsum(cat.false_pos * weight, axis=1)
        recall = tp / num_gt
        precision = tp / (tp + fp + np.spacing(1))
        # the precision envelope: the best precision at any higher recall
        precision = np.maximum.accumulate(precision[:, ::-1], axis=1)[:, ::-1]
        curve = np.zeros((len(matches.iou_thrs), len(matches.rec_thrs)))
        for t in range(len(matches.iou_thrs)):
            at = np.searchsorted(recall[t], matches.rec_thrs, side='left')
            reached = at < recall.shape[1]
            curve[t, reached] = precision[t, at[reached]]
        precisions.append(curve)
    if not precisions:
        return np.full(len(matches.iou_thrs), np.nan)
    return np.stack(precisions).mean(axis=(0, 2))  # (K, T, R) -> (T,)


def resampled_ap(matches: SegmMatches, counts) -> np.ndarray:
    """COCO segm AP and AP75 with each image counted ``counts`` times.

    Args:
        matches (SegmMatches): Output of :func:`segm_matches`.
        counts (array-like): (I,) image multiplicities, see
            :func:`resampled_ap_per_iou`.

    Returns:
        np.ndarray: (2,) mAP (over the IoU thresholds and the categories
        with ground truth in the resample) and mAP at IoU 0.75; nan where
        no category has ground truth.
    """
    return ap_and_ap75(resampled_ap_per_iou(matches, counts),
                       matches.iou_thrs)


def ap_and_ap75(per_iou, iou_thrs) -> np.ndarray:
    """mAP and AP75 from APs per IoU threshold.

    Args:
        per_iou (array-like): (..., T) AP at each threshold.
        iou_thrs (array-like): (T,) the thresholds (0.5:0.05:0.95).

    Returns:
        np.ndarray: (..., 2) their mean and the AP at the threshold
        nearest 0.75.
    """
    per_iou = np.asarray(per_iou, dtype=np.float64)
    i75 = int(np.argmin(np.abs(np.asarray(iou_thrs) - 0.75)))
    return np.stack([per_iou.mean(-1), per_iou[..., i75]], axis=-1)


def bootstrap_ap(matches: Dict[str, SegmMatches],
                 num_boot: int = 1000,
                 seed: int = 0,
                 per_iou: bool = False) -> Dict[str, np.ndarray]:
    """AP / AP75 of every ranking on the same image resamples.

    Args:
        matches (dict[str, SegmMatches]): Rankings of one set of masks by
            name, all matched on the same images.
        num_boot (int): Resamples. Defaults to 1000.
        seed (int): Seed of the resampling. Defaults to 0.
        per_iou (bool): Return the AP at every IoU threshold instead
            (:func:`ap_and_ap75` turns it into AP / AP75). Defaults to
            False.

    Returns:
        dict[str, np.ndarray]: Per ranking a (num_boot, 2) array of AP and
        AP75, or with ``per_iou`` a (num_boot, T) array of the AP at each
        threshold; row b of every ranking is on the same resample b.

    Raises:
        ValueError: Rankings matched on different images, or
            ``num_boot < 1``.
    """
    if num_boot < 1:
        raise ValueError(f'num_boot must be at least 1, got {num_boot}.')
    img_ids = [m.img_ids for m in matches.values()]
    if any(not np.array_equal(ids, img_ids[0]) for ids in img_ids):
        raise ValueError('The rankings were matched on different images: '
                         'pass the same img_ids to segm_matches.')
    num_img = len(img_ids[0])
    rng = np.random.default_rng(seed)
    width = len(next(iter(matches.values())).iou_thrs) if per_iou else 2
    out = {name: np.zeros((num_boot, width)) for name in matches}
    for b in range(num_boot):
        counts = np.bincount(rng.integers(0, num_img, num_img),
                             minlength=num_img)
        for name, m in matches.items():
            out[name][b] = (resampled_ap_per_iou if per_iou else
                            resampled_ap)(m, counts)
    return out


def headroom_share(ap, ap_cls, ap_oracle) -> np.ndarray:
    """``(ap - ap_cls) / (ap_oracle - ap_cls)``, nan where no headroom.

    Args:
        ap, ap_cls, ap_oracle (array-like): APs of the ranking, the cls
            ranking and the oracle, of one shape (e.g. per resample).

    Returns:
        np.ndarray: The share of the oracle's gain recovered.
    """
    ap, ap_cls, ap_oracle = (np.asarray(x, dtype=np.float64)
                             for x in (ap, ap_cls, ap_oracle))
    room = ap_oracle - ap_cls
    with np.errstate(divide='ignore', invalid='ignore'):
        return np.where(room > 0, (ap - ap_cls) / room, np.nan)


def interval(samples, level: float = 0.95) -> np.ndarray:
    """Percentile interval of bootstrap samples (nan ones left out).

    Args:
        samples (array-like): (B,) values, one per resample.
        level (float): Coverage. Defaults to 0.95.

    Returns:
        np.ndarray: (2,) lower and upper bound; nan when no sample is
        finite.
    """
    samples = np.asarray(samples, dtype=np.float64)
    samples = samples[np.isfinite(samples)]
    if not len(samples):
        return np.full(2, np.nan)
    tail = 100 * (1 - level) / 2
    return np.percentile(samples, [tail, 100 - tail])
