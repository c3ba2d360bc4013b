"""Plain functions of the mask quality analysis of Mask Scoring R-CNN.

Mask Scoring R-CNN (Huang et al., CVPR 2019) rescores each mask with
``mask_score = cls_score * predicted_MaskIoU``. These functions measure how
good that rescoring is on a COCO-style annotation file:

* :mod:`.coco_io`: load the ground truth (:func:`load_coco`) and map
  contiguous labels to its category ids (:func:`resolve_cat_ids`);
* :mod:`.rle`: masks as COCO RLEs (:func:`encode_masks`,
  :func:`rle_areas`);
* :mod:`.predictions`: what the analysis needs of one predicted data
  sample (:func:`parse_pred_sample`);
* :mod:`.matching`: every detection is matched to the non-crowd ground
  truth of its class in its image with the highest mask IoU, which gives
  its *true* MaskIoU (:func:`match_true_ious`);
* :mod:`.records`: the per-detection arrays of a whole evaluation
  (:func:`build_records`) and their files (:func:`dump_records`,
  :func:`load_records`);
* :mod:`.statistics`: Pearson / Spearman correlation with the true MaskIoU
  (:func:`correlations`) and expected calibration error
  (:func:`expected_calibration_error`);
* :mod:`.coco_segm`: segm AP with any detection score, e.g. an *oracle*
  built from the true MaskIoU (:func:`coco_segm_stats`), also per IoU
  threshold (:func:`coco_segm_evaluation`);
* :mod:`.bootstrap`: that AP on resamples of the evaluated images, the
  same for every ranking of one set of masks (:func:`segm_matches`,
  :func:`resampled_ap`, :func:`resampled_ap_per_iou`,
  :func:`bootstrap_ap`), for intervals of paired
  gains and of the headroom recovered (:func:`headroom_share`,
  :func:`interval`);
* :mod:`.image_cues`: how well each mask agrees with the image around it
  (:func:`mask_image_cues`) and a ridge correction of the predicted MaskIoU
  from such inputs (:func:`fit_iou_corrector`).

:class:`~mmdet_msrcnn.evaluation.MaskQualityMetric` is built on them, and
analysis scripts (e.g. ``tools/analysis/plot_mask_quality.py``) use them to
share the metric's matching code. Nothing here imports the models or the
datasets of ``mmdet_msrcnn``.
"""
from .bootstrap import (ap_and_ap75, bootstrap_ap, headroom_share,
                        interval, resampled_ap, resampled_ap_per_iou,
                        segm_matches)
from .coco_io import load_coco, resolve_cat_ids
from .coco_segm import (COCO_STAT_NAMES, IOU_THRS, SegmEvaluation,
                        coco_segm_evaluation, coco_segm_stats,
                        coco_stat_names, per_iou_stat_names)
from .image_cues import (IMAGE_CUE_NAMES, IoUCorrector, fit_iou_corrector,
                         mask_image_cues)
from .matching import match_true_ious
from .predictions import parse_pred_sample
from .records import RECORD_KEYS, build_records, dump_records, load_records
from .rle import encode_masks, rle_areas
from .score_combination import (DEFAULT_AREA_EDGES, DEFAULT_POWERS,
                                DEFAULT_SCORE_THRESHOLDS, area_error_lines,
                                correlation_above_scores, error_by_mask_area,
                                fit_mask_score_power, score_correlation_lines,
                                spread_by_true_iou, spread_lines)
from .statistics import (binned_means, correlations,
                         expected_calibration_error)

__all__ = [
    'load_coco', 'resolve_cat_ids', 'COCO_STAT_NAMES', 'coco_segm_stats',
    'coco_stat_names', 'IOU_THRS', 'SegmEvaluation', 'coco_segm_evaluation',
    'per_iou_stat_names', 'match_true_ious', 'parse_pred_sample',
    'RECORD_KEYS',
    'build_records', 'dump_records', 'load_records', 'encode_masks',
    'rle_areas', 'binned_means', 'correlations', 'expected_calibration_error',
    'DEFAULT_POWERS', 'fit_mask_score_power', 'spread_by_true_iou',
    'spread_lines', 'DEFAULT_AREA_EDGES', 'error_by_mask_area',
    'area_error_lines', 'DEFAULT_SCORE_THRESHOLDS',
    'correlation_above_scores', 'score_correlation_lines', 'segm_matches',
    'resampled_ap', 'resampled_ap_per_iou', 'ap_and_ap75', 'bootstrap_ap',
    'headroom_share', 'interval',
    'IMAGE_CUE_NAMES', 'mask_image_cues', 'IoUCorrector', 'fit_iou_corrector'
]
