"""Image cues of a mask (functional.image_cues) and image_cue_rescoring.py.

The hand-built image is 32 x 32, 0 everywhere but an 8 x 8 square of 1 at
rows / cols 12-19 (6.25 % of the pixels, so its 1st / 99th percentiles are
0 and 1 and the normalised image is the image itself).
"""
import json

import cv2
import numpy as np
import pytest

from helpers import load_tool
from mmdet_msrcnn.evaluation.functional import (IMAGE_CUE_NAMES,
                                                dump_records, encode_masks,
                                                fit_iou_corrector,
                                                mask_image_cues)
from mmdet_msrcnn.evaluation.functional.image_cues import (CONTRAST_EPS,
                                                           normalised_gray)

SIZE = 32


def box_mask(r0, r1, c0, c1):
    mask = np.zeros((SIZE, SIZE), dtype=np.uint8)
    mask[r0:r1, c0:c1] = 1
    return mask


SQUARE = box_mask(12, 20, 12, 20)
SHIFTED = box_mask(12, 20, 16, 24)  # 4 px right: 32 of its 64 px on SQUARE
LEFT_HALF = box_mask(12, 20, 12, 16)


def test_normalised_gray():
    image = (SQUARE * 200 + 20).astype(np.uint8)
    np.testing.assert_allclose(normalised_gray(image), SQUARE, atol=1e-6)
    colour = np.stack([image] * 3, axis=2)
    np.testing.assert_allclose(normalised_gray(colour), SQUARE, atol=1e-6)
    with pytest.raises(ValueError, match=r'\(H, W\) or \(H, W, C\)'):
        normalised_gray(np.zeros((2, 2, 2, 2)))


@pytest.mark.parametrize('image', [SQUARE, 1 - SQUARE],
                         ids=['bright-on-dark', 'dark-on-bright'])
def test_cues_of_the_exact_mask(image):
    cues = mask_image_cues(image * 255, [SQUARE])
    assert cues.shape == (1, len(IMAGE_CUE_NAMES))
    contrast, blob_iou, gradient = cues[0]
    # inside all 1 and the ring all 0 (or the reverse): both stds are 0
    assert contrast == pytest.approx(1 / CONTRAST_EPS)
    assert blob_iou == 1.0
    # Sobel 3 x 3 on the square's 28 border pixels: 4 on the 24 side ones,
    # 3 sqrt(2) on the 4 corners; the 99th-percentile magnitude is 4 (48
    # pixels, inside and outside the border, have 4; only the corners more)
    assert gradient == pytest.approx((24 + 3 * np.sqrt(2)) / 28, rel=1e-5)


def test_cues_of_a_shifted_mask():
    contrast, blob_iou, _ = mask_image_cues(SQUARE, [SHIFTED])[0]
    # half of the mask lies on the square: the majority rule keeps the
    # bright side (ties to bright) and the blob is the square
    assert blob_iou == pytest.approx(32 / 96)
    # inside: mean 1/2, std 1/2; the ring (3 px around the mask, 14 x 14
    # minus 64 = 132 px) holds 24 px of the square (cols 13-15)
    p = 24 / 132
    expected = (0.5 - p) / (0.5 + np.sqrt(p * (1 - p)) + CONTRAST_EPS)
    assert contrast == pytest.approx(expected, rel=1e-5)


def test_rle_masks_empty_masks_and_bad_sizes():
    masks = np.stack([SQUARE, np.zeros_like(SQUARE), LEFT_HALF])
    from_arrays = mask_image_cues(SQUARE, list(masks))
    np.testing.assert_array_equal(
        mask_image_cues(SQUARE, encode_masks(masks)), from_arrays)
    np.testing.assert_array_equal(from_arrays[1], np.zeros(3))
    assert from_arrays[2, 1] == pytest.approx(0.5)  # half the blob
    assert mask_image_cues(SQUARE, []).shape == (0, 3)
    with pytest.raises(ValueError, match='mask 0 is 16x16 but the image is '
                       '32x32'):
        mask_image_cues(SQUARE, [np.ones((16, 16))])


def test_corrector_recovers_linear_data_and_clips():
    rng = np.random.default_rng(0)
    inputs = rng.uniform(size=(50, 2))
    target = 0.2 + 0.3 * inputs[:, 0] + 0.1 * inputs[:, 1]
    corrector = fit_iou_corrector(inputs, target, ridge=0.)
    np.testing.assert_allclose(corrector.predict(inputs), target, atol=1e-12)
    # standardised weights: the raw slopes times the inputs' stds
    np.testing.assert_allclose(corrector.coef[1:],
                               np.array([0.3, 0.1]) * inputs.std(axis=0))
    assert corrector.predict([[10., 10.]])[0] == 1.0
    assert corrector.predict([[-10., -10.]])[0] == 0.0
    # zero-weighted outliers do not move the fit; a constant column is kept
    noisy = target.copy()
    noisy[:5] = 1.0
    weights = np.r_[np.zeros(5), np.ones(45)]
    with_const = np.c_[inputs, np.full(50, 0.7)]
    refit = fit_iou_corrector(with_const, noisy, weights, ridge=0.)
    np.testing.assert_allclose(refit.predict(with_const), target, atol=1e-12)
    assert refit.coef[3] == pytest.approx(0., abs=1e-12)
    # ridge shrinks the slopes, not the intercept (the weighted mean)
    shrunk = fit_iou_corrector(inputs, target, ridge=1e3)
    assert shrunk.coef[0] == pytest.approx(target.mean())
    assert np.abs(shrunk.coef[1:]).max() < 1e-3
    with pytest.raises(ValueError, match='positive total weight'):
        fit_iou_corrector(inputs, target, -np.ones(50))
    with pytest.raises(ValueError, match=r'\(N, F\) with N = 3'):
        fit_iou_corrector(inputs, target[:3])


# The tool. Each of two images holds the square as its one ground truth.
# The head predicts 0.5 for every mask (and maskness is 0.9 for all), so the
# head and its refit keep the cls order; the blob IoU of the image tells
# each mask's true IoU exactly. Eval image: d1 = the square (cls 0.8, IoU
# 1), d2 = its left half (cls 0.9, IoU 0.5): cls order AP 0.55, oracle 1.


def write_image_set(tmp_path, img_id, dets):
    """Image, annotation file and dump of one image's detections."""
    cv2.imwrite(str(tmp_path / f'{img_id}.png'), SQUARE * 255)
    ann = tmp_path / f'ann{img_id}.json'
    ann.write_text(json.dumps(dict(
        images=[dict(id=img_id, file_name=f'{img_id}.png', height=SIZE,
                     width=SIZE)],
        categories=[dict(id=1, name='nucleus')],
        annotations=[dict(id=1, image_id=img_id, category_id=1,
                          segmentation=encode_masks(SQUARE[None])[0],
                          area=64, bbox=[12, 12, 8, 8], iscrowd=0)])))
    masks = np.stack([m for m, _, _ in dets])
    score = np.array([s for _, s, _ in dets])
    num = len(dets)
    rec = dict(img_id=np.full(num, img_id), label=np.zeros(num, int),
               category_id=np.ones(num, int), score=score,
               mask_score=score * 0.5, pred_iou=np.full(num, 0.5),
               true_iou=np.array([t for _, _, t in dets]),
               area=masks.sum(axis=(1, 2)).astype(float),
               maskness=np.full(num, 0.9), rles=encode_masks(masks))
    path = str(tmp_path / f'dets{img_id}.npz')
    dump_records(rec, path)
    return path, str(ann)


def test_tool_by_hand(tmp_path):
    fit, fit_ann = write_image_set(tmp_path, 1, [
        (SQUARE, 0.6, 1.0), (LEFT_HALF, 0.7, 0.5),
        (box_mask(12, 16, 12, 20), 0.8, 0.5), (SHIFTED, 0.9, 1 / 3),
        (box_mask(12, 16, 12, 16), 0.5, 0.25)])
    evaluated, eval_ann = write_image_set(tmp_path, 2, [(SQUARE, 0.8, 1.0),
                                                        (LEFT_HALF, 0.9, 0.5)])
    tool = load_tool('tools/analysis/image_cue_rescoring.py')
    out = tmp_path / 'rescoring.json'
    rows = tool.main(['--fit', fit, '--fit-ann', fit_ann, '--eval',
                      evaluated, '--eval-ann', eval_ann, '--img-dir',
                      str(tmp_path), '--boot', '3', '--out', str(out)])
    by = {r['ranking']: r for r in rows}
    assert by['cls']['segm_mAP']['value'] == pytest.approx(0.55)
    assert by['oracle']['segm_mAP']['value'] == pytest.approx(1.0)
    for name in ('head', 'refit'):
        assert by[name]['headroom_recovered']['value'] == pytest.approx(0.)
    assert by['refit + cues']['headroom_recovered']['value'] == \
        pytest.approx(1.0)
    gain = by['refit + cues - refit']
    assert gain['segm_mAP']['value'] == pytest.approx(0.45)
    assert gain['resamples_above'] == 1.0
    saved = json.loads(out.read_text())
    assert saved['rows'] == rows
    # two hits, both above cls 0.5: +1 when ordered right, nan if constant
    pearson = saved['pearson_hits']
    assert pearson['refit + cues'] == dict(all=pytest.approx(1.0),
                                           confident=pytest.approx(1.0))
    assert np.isnan(pearson['head']['all'])


def test_tool_refuses_fitting_on_the_evaluated_dump(tmp_path):
    evaluated, ann = write_image_set(tmp_path, 2, [(SQUARE, 0.8, 1.0)])
    tool = load_tool('tools/analysis/image_cue_rescoring.py')
    with pytest.raises(SystemExit):
        tool.main(['--fit', evaluated, '--fit-ann', ann, '--eval', evaluated,
                   '--eval-ann', ann, '--img-dir', str(tmp_path)])
    other, _ = write_image_set(tmp_path, 3, [(SQUARE, 0.8, 1.0)])
    with pytest.raises(SystemExit, match='not in the annotation file'):
        tool.main(['--fit', other, '--fit-ann', ann, '--eval', evaluated,
                   '--eval-ann', ann, '--img-dir', str(tmp_path)])
    with pytest.raises(SystemExit, match='cannot read'):
        tool.main(['--fit', other, '--fit-ann', str(tmp_path / 'ann3.json'),
                   '--eval', evaluated, '--eval-ann', ann, '--img-dir',
                   str(tmp_path / 'nowhere')])
