"""Dumps that keep the masks, and tools/analysis/headroom_curve.py.

One 16x16 image, one ground-truth 4x4 square, two detections of it: d1
exactly the square (true IoU 1), d2 its left half (8 px, true IoU 0.5).
COCO segm AP by hand: ranked d1 first every threshold has precision 1 at
recall 1 (AP 1); ranked d2 first, d2 matches at IoU 0.5 only and d1 is the
hit at the other 9 thresholds with precision 1/2 (AP 0.5), so the mAP is
(1 + 9 x 0.5) / 10 = 0.55.
"""
import json

import numpy as np
import pytest

from helpers import load_tool
from mmdet_msrcnn.evaluation.functional import (dump_records, encode_masks,
                                                load_records)

H = W = 16


def square_masks():
    gt = np.zeros((1, H, W), dtype=np.uint8)
    gt[0, 4:8, 4:8] = 1
    half = np.zeros_like(gt)
    half[0, 4:8, 4:6] = 1
    return gt, np.concatenate([gt, half])


@pytest.fixture
def ann_file(tmp_path):
    gt, _ = square_masks()
    rle, = encode_masks(gt)
    data = dict(
        images=[dict(id=1, file_name='1.png', height=H, width=W)],
        categories=[dict(id=1, name='nucleus')],
        annotations=[
            dict(id=1, image_id=1, category_id=1, segmentation=rle, area=16,
                 bbox=[4, 4, 4, 4], iscrowd=0)
        ])
    path = tmp_path / 'ann.json'
    path.write_text(json.dumps(data))
    return str(path)


def records(pred_iou=(0.4, 0.6)):
    """d1 (cls 0.8, true 1.0) and d2 (cls 0.9, true 0.5)."""
    _, dets = square_masks()
    score = np.array([0.8, 0.9])
    pred = np.array(pred_iou, dtype=np.float64)
    return dict(
        img_id=np.array([1, 1]),
        label=np.array([0, 0]),
        category_id=np.array([1, 1]),
        score=score,
        mask_score=score * pred,
        pred_iou=pred,
        true_iou=np.array([1.0, 0.5]),
        area=np.array([16., 8.]),
        maskness=np.array([0.9, 0.9]),
        rles=encode_masks(dets))


@pytest.mark.parametrize('suffix', ['npz', 'json'])
def test_dump_keeps_the_masks(tmp_path, suffix):
    rec = records()
    path = str(tmp_path / f'd.{suffix}')
    dump_records(rec, path)
    back = load_records(path)
    assert back['rles'] == rec['rles']
    np.testing.assert_array_equal(back['true_iou'], rec['true_iou'])
    assert 'rle_counts' not in back and 'rle_size' not in back


def test_dump_refuses_rles_of_other_detections(tmp_path):
    rec = records()
    rec['rles'] = rec['rles'][:1]
    with pytest.raises(ValueError, match='1 rles for 2 detections'):
        dump_records(rec, str(tmp_path / 'd.npz'))


def test_curve_by_hand(tmp_path, ann_file):
    dump = str(tmp_path / 'd.npz')
    dump_records(records(), dump)
    tool = load_tool('tools/analysis/headroom_curve.py')
    out = tmp_path / 'curve.json'
    rows = tool.main([
        dump, '--ann-file', ann_file, '--mix', '0.25', '0.5', '--noise',
        '0.001', '--draws', '1', '--out',
        str(out)
    ])
    by = {(r['ranking'], r['param']): r for r in rows}
    # cls: d2 (0.9) first; oracle: d1 (0.8 x 1) above d2 (0.9 x 0.5)
    assert by[('cls', None)]['segm_mAP'] == pytest.approx(0.55)
    assert by[('oracle', None)]['segm_mAP'] == pytest.approx(1.0)
    # mask score: d1 0.8 x 0.4 = 0.32 < d2 0.9 x 0.6 = 0.54, the cls order
    assert by[('mask score', None)]['segm_mAP'] == pytest.approx(0.55)
    assert by[('mask score', None)]['headroom_recovered'] == 0.0
    # m = 0.25: d1 0.8 x 0.55 = 0.44 < d2 0.9 x 0.575 = 0.5175
    assert by[('mix', 0.25)]['headroom_recovered'] == 0.0
    # m = 0.5: d1 0.8 x 0.7 = 0.56 > d2 0.9 x 0.55 = 0.495
    assert by[('mix', 0.5)]['headroom_recovered'] == pytest.approx(1.0)
    assert by[('noise', 0.001)]['segm_mAP'] == pytest.approx(1.0)
    # AP75: cls order gives d1 the hit at precision 1/2
    assert by[('cls', None)]['segm_mAP_75'] == pytest.approx(0.5)
    # two hits: the estimate orders them against (-1) or with (+1) the truth
    assert by[('mask score', None)]['pearson_iou_hits'] == pytest.approx(-1)
    assert by[('mix', 0.5)]['pearson_iou_hits'] == pytest.approx(1)
    assert json.loads(out.read_text()) == rows


def test_curve_refuses_a_dump_without_masks(tmp_path, ann_file):
    rec = records()
    del rec['rles']
    dump = str(tmp_path / 'd.npz')
    dump_records(rec, dump)
    tool = load_tool('tools/analysis/headroom_curve.py')
    with pytest.raises(SystemExit, match='no masks in the dump'):
        tool.main([dump, '--ann-file', ann_file])
    with pytest.raises(SystemExit):
        tool.main([dump, '--ann-file', ann_file, '--mix', '1.5'])
