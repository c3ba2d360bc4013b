"""Tests of MaskQualityMetric and tools/analysis/plot_mask_quality.py.

A hand-made COCO set: three 64x64 images, categories a (id 1), b (id 2)
and c (id 5, no ground truth), axis-aligned square masks whose IoUs are
known in closed form. Image 3 has no detections.
"""
import contextlib
import io
import json
import math
import pickle
from pathlib import Path

import numpy as np
import pycocotools.mask as mask_util
import pytest
import torch
from mmengine.structures import InstanceData
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
from scipy import stats

from helpers import load_tool

from mmdet_msrcnn.evaluation import (MaskQualityMetric,
                                     expected_calibration_error,
                                     match_true_ious, resolve_cat_ids)

H = W = 64
CLASSES = ('a', 'b', 'c')
CAT_IDS = (1, 2, 5)

# Ground truth: (ann id, image id, category id, x, y, side, iscrowd).
GTS = [
    (1, 1, 1, 0, 0, 10, 0),
    (2, 1, 2, 30, 30, 10, 0),
    (3, 1, 1, 40, 0, 20, 1),  # crowd region: never matched
    (4, 2, 1, 20, 20, 10, 0),
    (5, 2, 1, 30, 20, 10, 0),
    (6, 3, 2, 10, 10, 10, 0),
]

# Detections: (image id, label, x, y, side, cls score, predicted MaskIoU,
# hand-computed true MaskIoU).
DETS = [
    (1, 0, 5, 0, 10, 0.90, 0.80, 50 / 150),  # shifted 5 px on GT 1
    (1, 0, 0, 0, 10, 0.80, 0.85, 1.0),  # exactly GT 1
    (1, 1, 32, 32, 10, 0.70, 0.50, 64 / 136),  # 8x8 overlap with GT 2
    (1, 0, 45, 5, 10, 0.60, 0.20, 0.0),  # inside the crowd region only
    (1, 2, 0, 0, 10, 0.55, 0.10, 0.0),  # class c has no ground truth
    # Overlaps GT 4 (80 px, IoU 80/120) and GT 5 (20 px, IoU 20/180).
    (2, 0, 22, 20, 10, 0.85, 0.65, 80 / 120),
    # Overlaps GT 4 (30 px, IoU 30/170) and GT 5 (70 px, IoU 70/130).
    (2, 0, 27, 20, 10, 0.40, 0.55, 70 / 130),
    (2, 1, 20, 20, 10, 0.30, 0.15, 0.0),  # no GT of class b in image 2
    (2, 1, 0, 0, 10, 0.03, 0.40, 0.0),  # below score_thr
]
IMG_IDS = (1, 2, 3)


def square(x, y, side):
    mask = np.zeros((H, W), dtype=bool)
    mask[y:y + side, x:x + side] = True
    return mask


def rle_of(mask):
    rle = mask_util.encode(np.asfortranarray(mask.astype(np.uint8)))
    rle['counts'] = rle['counts'].decode()
    return rle


@pytest.fixture
def ann_file(tmp_path):
    images = [
        dict(id=i, file_name=f'{i}.png', height=H, width=W) for i in IMG_IDS
    ]
    anns = []
    for ann_id, img_id, cat_id, x, y, side, crowd in GTS:
        anns.append(
            dict(
                id=ann_id,
                image_id=img_id,
                category_id=cat_id,
                segmentation=rle_of(square(x, y, side)),
                area=float(side * side),
                bbox=[x, y, side, side],
                iscrowd=crowd))
    cats = [dict(id=i, name=n) for i, n in zip(CAT_IDS, CLASSES)]
    path = tmp_path / 'ann.json'
    path.write_text(
        json.dumps(dict(images=images, annotations=anns, categories=cats)))
    return str(path)


def make_samples(with_iou=True, as_instance_data=False):
    """One data sample per image, as DetDataSample.to_dict() gives."""
    samples = []
    for img_id in IMG_IDS:
        dets = [d for d in DETS if d[0] == img_id]
        scores = torch.tensor([d[5] for d in dets], dtype=torch.float32)
        ious = torch.tensor([d[6] for d in dets], dtype=torch.float32)
        if dets:
            masks = torch.from_numpy(
                np.stack([square(d[2], d[3], d[4]) for d in dets]))
        else:
            masks = torch.zeros((0, H, W), dtype=torch.bool)
        pred = dict(
            bboxes=torch.tensor([[d[2], d[3], d[2] + d[4], d[3] + d[4]]
                                 for d in dets],
                                dtype=torch.float32).reshape(-1, 4),
            scores=scores,
            labels=torch.tensor([d[1] for d in dets], dtype=torch.int64),
            masks=masks)
        if with_iou:
            pred['mask_ious'] = ious
            pred['mask_scores'] = scores * ious
        if as_instance_data:
            pred = InstanceData(**pred)
        samples.append(
            dict(img_id=img_id, ori_shape=(H, W), pred_instances=pred))
    return samples


def expected_columns(with_iou=True):
    """Hand values in detection order (float32 like the model outputs)."""
    scores = np.array([d[5] for d in DETS], dtype=np.float32)
    ious = np.array([d[6] for d in DETS], dtype=np.float32)
    mask_scores = (scores * ious) if with_iou else scores
    true = np.array([d[7] for d in DETS])
    return (scores.astype(np.float64), ious.astype(np.float64),
            mask_scores.astype(np.float64), true)


def run_metric(ann_file, samples, **kwargs):
    metric = MaskQualityMetric(ann_file=ann_file, **kwargs)
    metric.dataset_meta = dict(classes=CLASSES)
    metric.process({}, samples)
    return metric.evaluate(size=len(samples))


def reference_stats(ann_file, scores, img_ids=None, det_img_ids=None):
    """Independent pycocotools segm COCOeval on the same detections (of
    ``det_img_ids``, default ``img_ids``), over ``img_ids`` (default all)."""
    det_img_ids = det_img_ids or img_ids
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(ann_file)
        dets = [
            dict(
                image_id=d[0],
                category_id=CAT_IDS[d[1]],
                segmentation=rle_of(square(d[2], d[3], d[4])),
                score=float(s)) for d, s in zip(DETS, scores)
            if det_img_ids is None or d[0] in det_img_ids
        ]
        coco_eval = COCOeval(coco, coco.loadRes(dets), 'segm')
        if img_ids is not None:
            coco_eval.params.imgIds = sorted(img_ids)
        coco_eval.evaluate()
        coco_eval.accumulate()
        coco_eval.summarize()
    return coco_eval.stats


def segm_stats(results, prefix):
    names = ('mAP', 'mAP_50', 'mAP_75', 'mAP_s', 'mAP_m', 'mAP_l', 'AR@1',
             'AR@10', 'AR@100', 'AR_s@100', 'AR_m@100', 'AR_l@100')
    return np.array([results[f'mask_quality/{prefix}_{n}'] for n in names])


def test_match_true_ious(ann_file):
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(ann_file)
    for img_id in IMG_IDS:
        dets = [d for d in DETS if d[0] == img_id]
        masks = np.stack([square(d[2], d[3], d[4])
                          for d in dets]) if dets else np.zeros((0, H, W))
        cats = [CAT_IDS[d[1]] for d in dets]
        ious = match_true_ious(coco, img_id, masks, cats)
        np.testing.assert_allclose(ious, [d[7] for d in dets], atol=1e-12)
    # RLE input gives the same values.
    rles = [rle_of(square(5, 0, 10))]
    np.testing.assert_allclose(
        match_true_ious(coco, 1, rles, [1]), [1 / 3], atol=1e-12)
    assert resolve_cat_ids(coco) == [1, 2, 5]
    assert resolve_cat_ids(coco, CLASSES) == [1, 2, 5]
    with pytest.raises(ValueError):
        resolve_cat_ids(coco, ('a', 'zebra'))


def test_ece_by_hand():
    # bin 1: scores .15/.18 vs IoU .1/.3; bin 5: .55 vs .5; bin 9: .95 vs 1
    ece = expected_calibration_error([0.15, 0.18, 0.55, 0.95],
                                     [0.1, 0.3, 0.5, 1.0], 10)
    assert ece == pytest.approx(2 / 4 * 0.035 + 1 / 4 * 0.05 + 1 / 4 * 0.05)
    assert math.isnan(expected_calibration_error([], [], 10))


@pytest.mark.parametrize('as_instance_data', [False, True])
def test_ms_rcnn_metrics(ann_file, tmp_path, as_instance_data):
    dump = tmp_path / 'dets.json'
    res = run_metric(
        ann_file,
        make_samples(as_instance_data=as_instance_data),
        dump_file=str(dump))
    scores, ious, mask_scores, true = expected_columns()
    keep = scores > 0.05
    assert res['mask_quality/num_dets'] == keep.sum() == 8
    assert res['mask_quality/num_dets_all'] == len(DETS)

    # Correlations, computed independently on the hand values.
    assert res['mask_quality/pearson_iou'] == pytest.approx(
        np.corrcoef(ious[keep], true[keep])[0, 1])
    assert res['mask_quality/spearman_iou'] == pytest.approx(
        stats.spearmanr(ious[keep], true[keep])[0])
    assert res['mask_quality/pearson_cls'] == pytest.approx(
        np.corrcoef(scores[keep], true[keep])[0, 1])
    assert res['mask_quality/spearman_cls'] == pytest.approx(
        stats.spearmanr(scores[keep], true[keep])[0])
    assert res['mask_quality/pearson_mask_score'] == pytest.approx(
        np.corrcoef(mask_scores[keep], true[keep])[0, 1])
    assert res['mask_quality/spearman_mask_score'] == pytest.approx(
        stats.spearmanr(mask_scores[keep], true[keep])[0])
    hit = keep & (true > 0)
    assert hit.sum() < keep.sum()  # the fixture has false positives
    assert res['mask_quality/pearson_iou_hits'] == pytest.approx(
        np.corrcoef(ious[hit], true[hit])[0, 1])
    assert res['mask_quality/pearson_cls_hits'] == pytest.approx(
        np.corrcoef(scores[hit], true[hit])[0, 1])
    assert res['mask_quality/spearman_iou_hits'] == pytest.approx(
        stats.spearmanr(ious[hit], true[hit])[0])
    assert res['mask_quality/spearman_cls_hits'] == pytest.approx(
        stats.spearmanr(scores[hit], true[hit])[0])

    # ECE by hand. Kept mask scores .72 .68 .35 .12 .055 .5525 .22 .045:
    # .055 and .045 (true IoU 0 and 0) share bin 0, the rest are alone.
    ms, tr = mask_scores[keep], true[keep]
    shared = [4, 7]
    alone = [i for i in range(8) if i not in shared]
    ece = (2 * abs(ms[shared].mean() - tr[shared].mean()) +
           sum(abs(ms[i] - tr[i]) for i in alone)) / 8
    assert res['mask_quality/ece'] == pytest.approx(ece)

    # segm AP with the mask score and with the oracle score.
    np.testing.assert_allclose(
        segm_stats(res, 'segm'), reference_stats(ann_file, mask_scores))
    np.testing.assert_allclose(
        segm_stats(res, 'oracle_segm'),
        reference_stats(ann_file, scores * true))
    assert res['mask_quality/segm_mAP'] >= 0
    assert res['mask_quality/oracle_segm_mAP'] > \
        res['mask_quality/segm_mAP']
    # the same masks ranked by the classification score alone
    np.testing.assert_allclose(
        segm_stats(res, 'score_segm'), reference_stats(ann_file, scores))
    assert res['mask_quality/score_segm_mAP'] != \
        res['mask_quality/segm_mAP']

    # Dump: all detections, hand values.
    data = json.loads(dump.read_text())
    np.testing.assert_allclose(data['true_iou'], true, atol=1e-12)
    np.testing.assert_allclose(data['pred_iou'], ious)
    np.testing.assert_allclose(data['score'], scores)
    np.testing.assert_allclose(data['mask_score'], mask_scores)
    assert data['label'] == [d[1] for d in DETS]
    assert data['img_id'] == [d[0] for d in DETS]
    assert data['area'] == [100.0] * len(DETS)
    # and the masks, to rank them again (tools/analysis/headroom_curve.py)
    for rle, (_, _, x, y, side, *_) in zip(data['rles'], DETS):
        np.testing.assert_array_equal(
            mask_util.decode(rle).astype(bool), square(x, y, side))


def test_oracle_true_iou(ann_file):
    res = run_metric(ann_file, make_samples(), oracle='true_iou')
    true = expected_columns()[3]
    np.testing.assert_allclose(
        segm_stats(res, 'oracle_segm'), reference_stats(ann_file, true))
    with pytest.raises(ValueError):
        MaskQualityMetric(ann_file=ann_file, oracle='perfect')


def test_mask_rcnn_results(ann_file, tmp_path):
    dump = tmp_path / 'dets.npz'
    res = run_metric(
        ann_file, make_samples(with_iou=False), dump_file=str(dump))
    scores, _, _, true = expected_columns(with_iou=False)
    keep = scores > 0.05
    assert res['mask_quality/pearson_iou'] == res['mask_quality/pearson_cls']
    assert res['mask_quality/spearman_iou'] == \
        res['mask_quality/spearman_cls']
    assert res['mask_quality/ece'] == pytest.approx(
        expected_calibration_error(scores[keep], true[keep]))
    np.testing.assert_allclose(
        segm_stats(res, 'segm'), reference_stats(ann_file, scores))
    # no rescoring: ranked by `scores` is the segm AP itself
    np.testing.assert_array_equal(
        segm_stats(res, 'score_segm'), segm_stats(res, 'segm'))
    with np.load(dump) as data:
        assert np.isnan(data['pred_iou']).all()
        np.testing.assert_allclose(data['mask_score'], scores)


def test_degenerate_inputs(ann_file):
    # No detection at all, then a single one: nan, never an exception.
    empty = [
        dict(
            img_id=i,
            ori_shape=(H, W),
            pred_instances=dict(
                bboxes=torch.zeros((0, 4)),
                scores=torch.zeros(0),
                labels=torch.zeros(0, dtype=torch.int64),
                masks=torch.zeros((0, H, W), dtype=torch.bool)))
        for i in IMG_IDS
    ]
    res = run_metric(ann_file, empty)
    assert res['mask_quality/num_dets'] == 0
    for key in ('pearson_iou', 'spearman_cls', 'ece', 'segm_mAP',
                'oracle_segm_mAP'):
        assert math.isnan(res[f'mask_quality/{key}'])

    single = make_samples()[:1]
    pred = single[0]['pred_instances']
    single[0]['pred_instances'] = {k: v[:1] for k, v in pred.items()}
    metric = MaskQualityMetric(ann_file=ann_file)  # no dataset_meta
    metric.process({}, single)
    res = metric.evaluate(size=1)
    assert res['mask_quality/num_dets'] == 1
    assert math.isnan(res['mask_quality/pearson_iou'])
    assert res['mask_quality/segm_mAP'] >= 0


def plot_tool():
    return load_tool('tools/analysis/plot_mask_quality.py')


def test_plot_tool(ann_file, tmp_path):
    tool = plot_tool()
    dump = tmp_path / 'dets.json'
    run_metric(ann_file, make_samples(), dump_file=str(dump))
    files = tool.main([str(dump), '--out-dir', str(tmp_path / 'plots')])
    assert len(files) == 2
    for file in files:
        assert Path(file).suffix == '.png'
        assert Path(file).stat().st_size > 0

    # A tools/test.py --out pickle: masks as RLEs, true IoU recomputed.
    samples = make_samples()
    for s in samples:
        pred = {k: v for k, v in s['pred_instances'].items()}
        pred['masks'] = [rle_of(m) for m in pred['masks'].numpy()]
        s['pred_instances'] = pred
    pkl = tmp_path / 'results.pkl'
    pkl.write_bytes(pickle.dumps(samples))
    records = tool.records_from_results(str(pkl), ann_file)
    np.testing.assert_allclose(
        records['true_iou'], [d[7] for d in DETS], atol=1e-12)
    files = tool.main([
        str(pkl), '--ann-file', ann_file, '--out-dir',
        str(tmp_path / 'pkl_plots')
    ])
    assert all(Path(f).stat().st_size > 0 for f in files)


def test_headroom_by_hand():
    """(AP(ours) - AP(cls)) / (AP(oracle) - AP(cls)), for mAP and mAP_75."""
    stats_in = {
        'score_segm_mAP': 0.380, 'segm_mAP': 0.385, 'oracle_segm_mAP': 0.436,
        'score_segm_mAP_75': 0.349, 'segm_mAP_75': 0.357,
        'oracle_segm_mAP_75': 0.349,  # the oracle adds nothing here
        'maskness_segm_mAP': 0.366, 'maskness_segm_mAP_75': 0.35,
    }
    out = MaskQualityMetric.headroom(stats_in)
    assert out['headroom_recovered'] == pytest.approx(0.005 / 0.056)
    assert math.isnan(out['headroom_recovered_75'])
    assert out['maskness_headroom_recovered'] == pytest.approx(
        -0.014 / 0.056)
    assert math.isnan(out['maskness_headroom_recovered_75'])
    # without maskness results: no maskness keys
    del stats_in['maskness_segm_mAP'], stats_in['maskness_segm_mAP_75']
    assert set(MaskQualityMetric.headroom(stats_in)) == {
        'headroom_recovered', 'headroom_recovered_75'}


def test_maskness_ranking_and_headroom_keys(ann_file, tmp_path):
    """``maskness_segm_*`` ranks the same masks by scores x maskness."""
    samples = make_samples()
    maskness = {}
    for sample in samples:
        num = len(sample['pred_instances']['scores'])
        # hand-made maskness: 0.5 + 0.05 * detection index in the image
        values = 0.5 + 0.05 * torch.arange(num, dtype=torch.float32)
        sample['pred_instances']['maskness'] = values
        maskness[sample['img_id']] = values
    res = run_metric(ann_file, samples, dump_file=str(tmp_path / 'd.npz'))
    scores = np.array([d[5] for d in DETS], dtype=np.float32)
    m = np.concatenate([maskness[i].numpy() for i in IMG_IDS])
    np.testing.assert_allclose(
        segm_stats(res, 'maskness_segm'),
        reference_stats(ann_file, (scores * m).astype(np.float64)))
    for prefix in ('', 'maskness_'):
        cls = res['mask_quality/score_segm_mAP']
        room = res['mask_quality/oracle_segm_mAP'] - cls
        name = 'segm' if not prefix else 'maskness_segm'
        assert room > 0
        assert res[f'mask_quality/{prefix}headroom_recovered'] == \
            pytest.approx((res[f'mask_quality/{name}_mAP'] - cls) / room)
    # results without maskness (Mask R-CNN, older dumps): no such rows
    plain = run_metric(ann_file, make_samples())
    assert not any('maskness' in k for k in plain)
    assert 'mask_quality/headroom_recovered' in plain


def test_ap_per_iou_threshold_by_hand(ann_file):
    """At IoU 0.95 only the exact copy of GT 1 (class a, 3 instances) is a
    hit, and class b has none; c has no ground truth and is left out.

    Class a's detections, by cls: 0.90 (IoU 1/3), 0.85 (2/3), 0.80 (the
    hit), 0.60 (crowd, ignored), 0.40: precision 1/3 at recall 1/3, so AP
    = 34/101 x 1/3 (the 34 recall thresholds 0-0.33). By the mask score
    (0.72, 0.68 the hit, 0.55, ...) it is 34/101 x 1/2, by the oracle
    (the hit first) 34/101. The mean over classes a and b halves each;
    the share is (1/2 - 1/3) / (1 - 1/3) = 1/4.
    """
    res = run_metric(ann_file, make_samples(), ap_per_iou=True)
    unit = 34 / 101 / 2
    assert res['mask_quality/score_segm_mAP_95'] == pytest.approx(unit / 3)
    assert res['mask_quality/segm_mAP_95'] == pytest.approx(unit / 2)
    assert res['mask_quality/oracle_segm_mAP_95'] == pytest.approx(unit)
    assert res['mask_quality/headroom_recovered_95'] == pytest.approx(0.25)
    names = ('50', '55', '60', '65', '70', '75', '80', '85', '90', '95')
    scores = expected_columns()[2]
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(ann_file)
        dets = [dict(image_id=d[0], category_id=CAT_IDS[d[1]],
                     segmentation=rle_of(square(d[2], d[3], d[4])),
                     score=float(s)) for d, s in zip(DETS, scores)]
        ref = COCOeval(coco, coco.loadRes(dets), 'segm')
        ref.evaluate()
        ref.accumulate()
    for t, name in enumerate(names):
        prec = ref.eval['precision'][t, :, :, 0, -1]
        assert res[f'mask_quality/segm_mAP_{name}'] == pytest.approx(
            prec[prec > -1].mean())
        cls = res[f'mask_quality/score_segm_mAP_{name}']
        room = res[f'mask_quality/oracle_segm_mAP_{name}'] - cls
        share = res[f'mask_quality/headroom_recovered_{name}']
        if room > 0:
            assert share == pytest.approx(
                (res[f'mask_quality/segm_mAP_{name}'] - cls) / room)
        else:
            assert math.isnan(share)
    assert res['mask_quality/segm_mAP'] == pytest.approx(
        np.mean([res[f'mask_quality/segm_mAP_{n}'] for n in names]))
    # off by default: the COCO stats only
    plain = run_metric(ann_file, make_samples())
    assert 'mask_quality/segm_mAP_95' not in plain
    assert 'mask_quality/headroom_recovered_50' not in plain
    assert plain['mask_quality/segm_mAP'] == res['mask_quality/segm_mAP']


def test_ap_over_the_evaluated_images_only(ann_file):
    """A subset of the annotated images (a dataset with ``indices``): the
    AP is pycocotools' over those images, not over every image of the
    annotation file (whose other instances would count as missed)."""
    # image 3 has no detection but an instance: it still counts
    samples = [s for s in make_samples() if s['img_id'] in (1, 3)]
    results = run_metric(ann_file, samples)
    scores = expected_columns()[2]
    subset = reference_stats(ann_file, scores, img_ids=(1, 3))
    np.testing.assert_allclose(
        segm_stats(results, 'segm'), subset, atol=1e-6)
    # over every annotated image, image 2's two class-a instances would
    # count as missed: a lower AP
    everything = reference_stats(ann_file, scores, det_img_ids=(1, 3))
    assert subset[0] > everything[0]
