"""Mask quality metric: how well predicted MaskIoU tracks the true MaskIoU.

:class:`MaskQualityMetric` evaluates the mask rescoring of Mask Scoring
R-CNN (Huang et al., CVPR 2019) with the plain functions of
:mod:`mmdet_msrcnn.evaluation.functional`: true MaskIoU by matching,
correlations, calibration error and segm AP with the mask, oracle and
classification scores.
"""
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger

from ...registry import METRICS
from ..functional import (build_records, coco_segm_evaluation,
                          coco_stat_names, correlations, dump_records,
                          expected_calibration_error, load_coco,
                          parse_pred_sample, per_iou_stat_names,
                          resolve_cat_ids)

#: Values of ``MaskQualityMetric(oracle=...)``.
ORACLES = ('score_x_true_iou', 'true_iou')


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
    - ``pearson_iou_hits`` / ``pearson_cls_hits`` (and ``spearman_*``):
      predicted MaskIoU resp. classification score vs true MaskIoU over
      the detections whose true MaskIoU is above 0 (false positives left
      out).
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
    evaluated twice. Where the results carry ``maskness`` (the mean mask
    probability over the binarised foreground, SOLOv2's zero-cost mask
    quality), ``maskness_segm_*`` ranks the same masks by ``scores x
    maskness``.

    Headroom: ``headroom_recovered`` (for ``mAP``) and
    ``headroom_recovered_75`` (for ``mAP_75``) are ``(AP(mask score) -
    AP(cls)) / (AP(oracle) - AP(cls))``, the share of what a perfect IoU
    estimate would add that the mask score adds (nan when the oracle adds
    nothing); ``maskness_headroom_recovered(_75)`` the same for maskness.

    With ``ap_per_iou=True`` every ranking also reports its AP at each
    IoU threshold (``segm_mAP_55``, ``score_segm_mAP_60``, ...,
    ``oracle_segm_mAP_95``; ``_50`` and ``_75`` are the COCO stats'), and
    the share is given per threshold (``headroom_recovered_50`` ...
    ``headroom_recovered_95``, ``maskness_headroom_recovered_*``): where
    on the IoU scale the rescoring gains or loses. A MaskIoU head can
    cost AP50 while it adds AP90, which the mean hides.

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
        ap_per_iou (bool): Also report the AP and the headroom share at
            each IoU threshold (see above). Defaults to False.
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
                 ap_per_iou: bool = False,
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
        self.ap_per_iou = bool(ap_per_iou)
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
        """Category ids of the labels, resolved on first use."""
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
        eval_results['pearson_iou_hits'], \
            eval_results['spearman_iou_hits'] = correlations(
                pred_iou[hit], true_iou[hit])
        eval_results['pearson_cls_hits'], \
            eval_results['spearman_cls_hits'] = correlations(
                records['score'][keep][hit], true_iou[hit])
        eval_results['ece'] = expected_calibration_error(
            records['mask_score'][keep], true_iou, self.num_bins)
        eval_results['num_dets'] = int(keep.sum())
        eval_results['num_dets_all'] = int(keep.size)

        # the images evaluated (a subset when the dataset has `indices`),
        # not every image of the annotation file: the others' instances
        # would count as missed
        img_ids = sorted({int(res['img_id']) for res in results})
        rankings = [('segm', records['mask_score']),
                    ('oracle_segm', self.oracle_scores(records))]
        rescored = not np.array_equal(records['mask_score'], records['score'])
        if rescored:
            rankings.append(('score_segm', records['score']))
        maskness = records['maskness']
        if maskness.size and not np.isnan(maskness).any():
            rankings.append(('maskness_segm', records['score'] * maskness))
        stat_names = coco_stat_names(self.max_dets)
        iou_names = per_iou_stat_names() if self.ap_per_iou else ()
        for name, scores in rankings:
            evaluation = coco_segm_evaluation(self._coco_api, records,
                                              scores, cat_ids, img_ids,
                                              self.max_dets)
            if not records['rles']:
                logger.warning('No detections: segm AP is nan.')
            else:
                logger.info(f'{name} ({len(records["rles"])} detections):'
                            f'\n{evaluation.summary}')
            for stat_name, value in zip(stat_names, evaluation.stats):
                eval_results[f'{name}_{stat_name}'] = float(value)
            for stat_name, value in zip(iou_names, evaluation.ap_per_iou):
                eval_results.setdefault(f'{name}_{stat_name}', float(value))

        if not rescored:  # ranked by `scores` already: the same numbers
            for stat_name in stat_names + iou_names:
                eval_results[f'score_segm_{stat_name}'] = \
                    eval_results[f'segm_{stat_name}']
        eval_results.update(
            self.headroom(eval_results,
                          ('mAP', 'mAP_75') + tuple(
                              n for n in iou_names if n != 'mAP_75')))
        logger.info('mask quality: ' + ', '.join(
            f'{k}={v:.4f}' if isinstance(v, float) else f'{k}={v}'
            for k, v in eval_results.items()
            if not k.startswith(('segm_A', 'oracle_segm_A', 'score_segm_A',
                                 'maskness_segm_A'))))
        return eval_results

    @staticmethod
    def headroom(eval_results: Dict[str, float],
                 stats: Sequence[str] = ('mAP', 'mAP_75')
                 ) -> Dict[str, float]:
        """Share of the oracle's gain over the cls ranking recovered.

        Args:
            eval_results (dict): With ``segm_{stat}``, ``score_segm_{stat}``
                and ``oracle_segm_{stat}`` for every stat; optionally
                ``maskness_segm_*``.
            stats (Sequence[str]): ``'mAP'`` and ``'mAP_<t>'`` names (e.g.
                ``'mAP_75'``). Defaults to ``('mAP', 'mAP_75')``.

        Returns:
            dict[str, float]: ``headroom_recovered`` for ``mAP``,
            ``headroom_recovered_<t>`` for ``mAP_<t>`` and, where maskness
            was evaluated, ``maskness_headroom_recovered(_<t>)``; nan where
            the oracle is not above the cls ranking.
        """
        out = {}
        for stat in stats:
            suffix = stat[len('mAP'):]
            cls = eval_results[f'score_segm_{stat}']
            room = eval_results[f'oracle_segm_{stat}'] - cls
            for name, prefix in (('segm', ''), ('maskness_segm',
                                                'maskness_')):
                key = f'{name}_{stat}'
                if key not in eval_results:
                    continue
                out[f'{prefix}headroom_recovered{suffix}'] = float(
                    (eval_results[key] - cls) / room) if room > 0 \
                    else float('nan')
        return out
