"""Image-bootstrap AP (functional.bootstrap) and headroom_bootstrap.py.

Two 16 x 16 images. Image 1: ground truths A (rows/cols 0-3) and B (8-11)
of category 1, detected by d1 = A (score 0.9), a false positive d2 in an
empty corner (0.8) and d3 = B (0.7). At every IoU threshold the
precision/recall points are (1/2, 1), (1/2, 1/2), (1, 2/3); the envelope
gives precision 1 at the 51 recall thresholds 0-0.5 and 2/3 at the 50
above, so AP = AP75 = (51 + 50 x 2/3) / 101. Image 2: one ground truth C
of category 2 and its detection d4, the left half of C (IoU 1/2): a hit at
IoU 0.5 only, so category 2 has AP 1/10 and AP75 0.
"""
import json

import numpy as np
import pytest

from helpers import load_tool
from mmdet_msrcnn.evaluation.functional import (IOU_THRS, ap_and_ap75,
                                                bootstrap_ap,
                                                coco_segm_evaluation,
                                                coco_segm_stats, dump_records,
                                                encode_masks, headroom_share,
                                                interval, load_coco,
                                                per_iou_stat_names,
                                                resampled_ap,
                                                resampled_ap_per_iou,
                                                segm_matches)

H = W = 16
AP_IMAGE_1 = (51 + 50 * 2 / 3) / 101


def square(r0, r1, c0, c1):
    m = np.zeros((H, W), dtype=np.uint8)
    m[r0:r1, c0:c1] = 1
    return m


GT = [(1, 1, square(0, 4, 0, 4)), (1, 1, square(8, 12, 8, 12)),
      (2, 2, square(4, 8, 4, 8))]  # (image id, category id, mask)
DETS = [(1, 1, 0.9, square(0, 4, 0, 4)), (1, 1, 0.8, square(13, 16, 13, 16)),
        (1, 1, 0.7, square(8, 12, 8, 12)), (2, 2, 0.6, square(4, 8, 4, 6))]


def write_ann(path, image_copies=()):
    """The two images, plus a copy of image 1 under each id given."""
    images = [dict(id=i, file_name=f'{i}.png', height=H, width=W)
              for i in (1, 2, *image_copies)]
    gts = GT + [(c, cat, m) for c in image_copies for i, cat, m in GT
                if i == 1]
    anns = []
    for n, (img, cat, mask) in enumerate(gts, 1):
        rle, = encode_masks(mask[None])
        anns.append(dict(id=n, image_id=img, category_id=cat,
                         segmentation=rle, area=int(mask.sum()),
                         bbox=[0, 0, 1, 1], iscrowd=0))
    data = dict(images=images, annotations=anns,
                categories=[dict(id=1, name='a'), dict(id=2, name='b')])
    path.write_text(json.dumps(data))
    return load_coco(str(path))


def det_records(image_copies=()):
    dets = DETS + [(c, cat, s, m) for c in image_copies
                   for i, cat, s, m in DETS if i == 1]
    return dict(img_id=np.array([d[0] for d in dets]),
                category_id=np.array([d[1] for d in dets]),
                score=np.array([d[2] for d in dets]),
                rles=encode_masks(np.stack([d[3] for d in dets])))


def test_all_images_once_is_cocoeval(tmp_path):
    coco = write_ann(tmp_path / 'ann.json')
    rec = det_records()
    matches = segm_matches(coco, rec, rec['score'])
    assert matches.img_ids.tolist() == [1, 2]
    ap, ap75 = resampled_ap(matches, [1, 1])
    stats, _ = coco_segm_stats(coco, rec, rec['score'])
    assert ap == pytest.approx(stats[0], abs=1e-12)
    assert ap75 == pytest.approx(stats[2], abs=1e-12)
    # by hand: the mean over the two categories
    assert ap == pytest.approx((AP_IMAGE_1 + 0.1) / 2)
    assert ap75 == pytest.approx(AP_IMAGE_1 / 2)


def test_ap_per_iou_threshold_by_hand(tmp_path):
    """Category 1 has AP_IMAGE_1 at every threshold; category 2's d4 (IoU
    exactly 1/2) is a hit at 0.5 only (AP 1 there, 0 above)."""
    coco = write_ann(tmp_path / 'ann.json')
    rec = det_records()
    expected = np.full(10, AP_IMAGE_1 / 2)
    expected[0] = (AP_IMAGE_1 + 1) / 2
    per_iou = resampled_ap_per_iou(segm_matches(coco, rec, rec['score']),
                                   [1, 1])
    np.testing.assert_allclose(per_iou, expected)
    evaluation = coco_segm_evaluation(coco, rec, rec['score'])
    np.testing.assert_allclose(evaluation.ap_per_iou, expected, atol=1e-12)
    # the COCO stats: mAP is their mean, mAP_50 / mAP_75 two of them
    assert evaluation.stats[0] == pytest.approx(expected.mean())
    np.testing.assert_allclose(evaluation.stats[[1, 2]], expected[[0, 5]])
    np.testing.assert_allclose(ap_and_ap75(per_iou, IOU_THRS),
                               [expected.mean(), expected[5]])
    assert per_iou_stat_names() == ('mAP_50', 'mAP_55', 'mAP_60', 'mAP_65',
                                    'mAP_70', 'mAP_75', 'mAP_80', 'mAP_85',
                                    'mAP_90', 'mAP_95')
    # the bootstrap per threshold: each resample's mean is its mAP
    boot = bootstrap_ap(dict(cls=segm_matches(coco, rec, rec['score'])),
                        num_boot=20, seed=3, per_iou=True)['cls']
    plain = bootstrap_ap(dict(cls=segm_matches(coco, rec, rec['score'])),
                         num_boot=20, seed=3)['cls']
    assert boot.shape == (20, 10)
    np.testing.assert_allclose(ap_and_ap75(boot, IOU_THRS), plain)
    # no detections: nan everywhere
    empty = dict(img_id=np.zeros(0, int), category_id=np.zeros(0, int),
                 score=np.zeros(0), rles=[])
    assert np.isnan(coco_segm_evaluation(coco, empty, []).ap_per_iou).all()


@pytest.mark.parametrize('counts, img_ids, expected',
                         [([1, 0], [1], (AP_IMAGE_1, AP_IMAGE_1)),
                          ([0, 1], [2], (0.1, 0.0))])
def test_one_image_is_cocoeval_of_that_image(tmp_path, counts, img_ids,
                                             expected):
    coco = write_ann(tmp_path / 'ann.json')
    rec = det_records()
    ap = resampled_ap(segm_matches(coco, rec, rec['score']), counts)
    # category 2 has no ground truth in image 1 (nor 1 in image 2): left out
    np.testing.assert_allclose(ap, expected)
    stats, _ = coco_segm_stats(coco, rec, rec['score'], img_ids=img_ids)
    np.testing.assert_allclose(ap, stats[[0, 2]], atol=1e-12)


def test_an_image_drawn_twice_is_a_copy_of_it(tmp_path):
    coco = write_ann(tmp_path / 'ann.json')
    rec = det_records()
    ap = resampled_ap(segm_matches(coco, rec, rec['score']), [2, 1])
    # COCOeval of the set with image 1 present twice (its copy: id 3)
    coco3 = write_ann(tmp_path / 'ann3.json', image_copies=(3, ))
    rec3 = det_records(image_copies=(3, ))
    stats, _ = coco_segm_stats(coco3, rec3, rec3['score'])
    np.testing.assert_allclose(ap, stats[[0, 2]], atol=1e-12)
    # and doubling every image changes nothing
    matches = segm_matches(coco, rec, rec['score'])
    np.testing.assert_allclose(resampled_ap(matches, [2, 2]),
                               resampled_ap(matches, [1, 1]))


def test_ranking_changes_the_matching_and_the_ap(tmp_path):
    coco = write_ann(tmp_path / 'ann.json')
    rec = det_records()
    # the false positive d2 first: points (0, 0), (1/2, 1/2), (1, 2/3)
    scores = np.array([0.8, 0.9, 0.7, 0.6])
    ap, _ = resampled_ap(segm_matches(coco, rec, scores), [1, 0])
    assert ap == pytest.approx(2 / 3)


def test_bootstrap_draws_each_resample_for_every_ranking(tmp_path):
    coco = write_ann(tmp_path / 'ann.json')
    rec = det_records()
    a = segm_matches(coco, rec, rec['score'])
    b = segm_matches(coco, rec, np.array([0.8, 0.9, 0.7, 0.6]))
    boot = bootstrap_ap(dict(a=a, b=b), num_boot=200, seed=3)
    assert boot['a'].shape == (200, 2)
    # two images: a resample is {1, 1}, {1, 2} or {2, 2}
    possible = {
        name: [tuple(resampled_ap(m, c)) for c in ([2, 0], [1, 1], [0, 2])]
        for name, m in (('a', a), ('b', b))
    }
    kinds = [possible['a'].index(tuple(row)) for row in boot['a']]
    assert set(kinds) == {0, 1, 2}
    # ranking b on the same resample as ranking a, row by row
    for kind, row in zip(kinds, boot['b']):
        np.testing.assert_allclose(row, possible['b'][kind])
    again = bootstrap_ap(dict(a=a, b=b), num_boot=200, seed=3)
    np.testing.assert_array_equal(again['b'], boot['b'])


def test_bad_input(tmp_path):
    coco = write_ann(tmp_path / 'ann.json')
    rec = det_records()
    with pytest.raises(ValueError, match='3 scores for 4 detections'):
        segm_matches(coco, rec, [0.1, 0.2, 0.3])
    matches = segm_matches(coco, rec, rec['score'])
    with pytest.raises(ValueError, match='2 non-negative'):
        resampled_ap(matches, [1, -1])
    assert np.isnan(resampled_ap(matches, [0, 0])).all()
    one = segm_matches(coco, rec, rec['score'], img_ids=[1])
    with pytest.raises(ValueError, match='different images'):
        bootstrap_ap(dict(a=matches, b=one))
    with pytest.raises(ValueError, match='at least 1'):
        bootstrap_ap(dict(a=matches), num_boot=0)


def test_headroom_share_and_interval():
    np.testing.assert_allclose(
        headroom_share([0.55, 0.5, 0.7], [0.5, 0.5, 0.5], [0.6, 0.5, 0.6]),
        [0.5, np.nan, 2.0])
    np.testing.assert_allclose(interval(np.arange(101.), level=0.9),
                               [5., 95.])
    np.testing.assert_allclose(interval([np.nan, 1., 3.], level=1.), [1., 3.])
    assert np.isnan(interval([np.nan])).all()


# the tool, on the one-image case of test_headroom_curve.py: d1 the ground
# truth square (cls 0.8, true IoU 1), d2 its left half (cls 0.9, IoU 0.5);
# cls order AP 0.55 (AP75 0.5), oracle order AP 1


def one_image_dump(tmp_path, name, pred_iou):
    gt = square(4, 8, 4, 8)[None]
    (tmp_path / 'ann.json').write_text(json.dumps(dict(
        images=[dict(id=1, file_name='1.png', height=H, width=W)],
        categories=[dict(id=1, name='nucleus')],
        annotations=[dict(id=1, image_id=1, category_id=1,
                          segmentation=encode_masks(gt)[0], area=16,
                          bbox=[4, 4, 4, 4], iscrowd=0)])))
    score, pred = np.array([0.8, 0.9]), np.array(pred_iou)
    rec = dict(img_id=np.array([1, 1]), label=np.array([0, 0]),
               category_id=np.array([1, 1]), score=score,
               mask_score=score * pred, pred_iou=pred,
               true_iou=np.array([1.0, 0.5]), area=np.array([16., 8.]),
               maskness=np.array([0.9, 0.9]),
               rles=encode_masks(np.stack([gt[0], square(4, 8, 4, 6)])))
    (tmp_path / name).mkdir()
    path = str(tmp_path / name / 'val_dets.npz')
    dump_records(rec, path)
    return path, rec


def test_tool_by_hand(tmp_path):
    paper, _ = one_image_dump(tmp_path, 'paper', (0.4, 0.6))  # cls order
    better, _ = one_image_dump(tmp_path, 'better', (0.9, 0.1))  # d1 first
    tool = load_tool('tools/analysis/headroom_bootstrap.py')
    out = tmp_path / 'boot.json'
    rows = tool.main([paper, better, '--ann-file',
                      str(tmp_path / 'ann.json'), '--boot', '5', '--out',
                      str(out)])
    by = {r['ranking']: r for r in rows}
    assert list(by) == [
        'cls', 'cls x maskness', 'oracle', 'paper', 'better', 'better - paper',
        'paper - cls x maskness', 'better - cls x maskness'
    ]
    assert by['cls']['segm_mAP']['value'] == pytest.approx(0.55)
    assert by['cls']['segm_mAP_75']['value'] == pytest.approx(0.5)
    assert by['oracle']['segm_mAP']['value'] == pytest.approx(1.0)
    assert by['paper']['headroom_recovered']['value'] == pytest.approx(0.0)
    assert by['better']['headroom_recovered']['value'] == pytest.approx(1.0)
    assert by['better']['gain_75']['value'] == pytest.approx(0.5)
    # equal maskness keeps the cls order
    assert by['cls x maskness']['headroom_recovered']['value'] == 0.0
    diff = by['better - paper']
    assert diff['headroom_recovered']['value'] == pytest.approx(1.0)
    assert diff['segm_mAP']['value'] == pytest.approx(0.45)
    # one image: every resample is the image itself
    assert diff['segm_mAP']['std'] == pytest.approx(0.0)
    assert diff['segm_mAP']['low'] == pytest.approx(0.45)
    assert diff['resamples_above'] == 1.0
    # errors (pred - true) on the two hits: (-0.6, 0.1) and (-0.1, -0.4)
    assert diff['error_corr_hits'] == pytest.approx(-1.0)
    assert 'error_corr_hits' not in by['paper - cls x maskness']
    # against the zero-cost ranking: as good (paper) or better (better)
    assert by['paper - cls x maskness']['segm_mAP']['value'] == 0.0
    assert by['paper - cls x maskness']['resamples_above'] == 0.0
    assert by['better - cls x maskness']['headroom_recovered'][
        'value'] == pytest.approx(1.0)
    assert json.loads(out.read_text()) == rows


def test_tool_per_iou_threshold(tmp_path, capsys):
    """By cls, d2 (IoU 1/2) comes first: a hit at 0.5 only, so AP 1 at 0.5
    and 1/2 above; the oracle is 1 everywhere. At 0.5 there is no
    headroom (nan); above it ``better`` takes all of it, ``paper`` none."""
    paper, _ = one_image_dump(tmp_path, 'paper', (0.4, 0.6))
    better, _ = one_image_dump(tmp_path, 'better', (0.9, 0.1))
    tool = load_tool('tools/analysis/headroom_bootstrap.py')
    rows = tool.main([paper, better, '--ann-file',
                      str(tmp_path / 'ann.json'), '--boot', '3',
                      '--per-iou'])
    by = {r['ranking']: r for r in rows}
    values = {name: [v['value'] for v in by[name]['ap_per_iou']]
              for name in ('cls', 'oracle', 'paper', 'better')}
    np.testing.assert_allclose(values['cls'], [1.] + [0.5] * 9)
    np.testing.assert_allclose(values['oracle'], [1.] * 10)
    np.testing.assert_allclose(values['paper'], values['cls'])
    np.testing.assert_allclose(values['better'], [1.] * 10)
    share = [v['value'] for v in by['better']['headroom_per_iou']]
    assert np.isnan(share[0])
    np.testing.assert_allclose(share[1:], [1.] * 9)
    np.testing.assert_allclose(
        [v['value'] for v in by['paper']['headroom_per_iou']][1:], 0.)
    assert 'headroom_per_iou' not in by['cls']
    printed = capsys.readouterr().out
    assert 'better headroom | nan [nan, nan] | 100 [100, 100]' in printed
    # without the flag: no per-threshold entries
    plain = tool.main([paper, '--ann-file', str(tmp_path / 'ann.json'),
                       '--boot', '3'])
    assert not any('ap_per_iou' in r for r in plain)


def test_tool_refuses_dumps_of_other_detections(tmp_path):
    paper, rec = one_image_dump(tmp_path, 'paper', (0.4, 0.6))
    rec['score'] = np.array([0.7, 0.9])
    other = str(tmp_path / 'other.npz')
    dump_records(rec, other)
    tool = load_tool('tools/analysis/headroom_bootstrap.py')
    ann = str(tmp_path / 'ann.json')
    with pytest.raises(SystemExit, match='its score differs'):
        tool.main([paper, other, '--ann-file', ann])
    for key in ('img_id', 'label', 'category_id', 'score', 'mask_score',
                'pred_iou', 'true_iou', 'area', 'maskness'):
        rec[key] = rec[key][:1]
    rec['rles'] = rec['rles'][:1]
    dump_records(rec, other)
    with pytest.raises(SystemExit, match='1 detections, the first dump has 2'):
        tool.main([paper, other, '--ann-file', ann])
    with pytest.raises(SystemExit, match='baseline rankings'):
        tool.main([paper, '--ann-file', ann, '--names', 'oracle'])
    with pytest.raises(SystemExit):  # argparse: one name per dump
        tool.main([paper, '--ann-file', ann, '--names', 'a', 'b'])
