"""Evaluation of Mask Scoring R-CNN: plain functions and the metric.

:mod:`.functional` holds the plain functions (ground truth loading, RLEs,
MaskIoU matching, statistics, the segm COCOeval run, record files),
:mod:`.metrics` the :class:`MaskQualityMetric` built on them. Nothing here
imports ``mmdet_msrcnn.models``; annotation files are read with the data
sets' checked COCO loader.
"""
from .functional import (COCO_STAT_NAMES, RECORD_KEYS, binned_means,
                         build_records, coco_segm_stats, coco_stat_names,
                         correlations, dump_records, encode_masks,
                         expected_calibration_error, load_coco, load_records,
                         match_true_ious, parse_pred_sample, resolve_cat_ids,
                         rle_areas)
from .metrics import ORACLES, MaskQualityMetric

__all__ = [
    'MaskQualityMetric', 'ORACLES', 'COCO_STAT_NAMES', 'RECORD_KEYS',
    'binned_means', 'build_records', 'coco_segm_stats', 'coco_stat_names',
    'correlations', 'dump_records', 'encode_masks',
    'expected_calibration_error', 'load_coco', 'load_records',
    'match_true_ious', 'parse_pred_sample', 'resolve_cat_ids', 'rle_areas'
]
