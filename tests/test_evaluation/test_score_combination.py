"""Fitting the MaskIoU power of the mask score; spread per true-IoU bin."""
import numpy as np
import pytest
import torch

from helpers import build_model, demo_batch, load_tool, tiny_model_cfg
from mmdet_msrcnn.evaluation import dump_records
from mmdet_msrcnn.evaluation.functional import (fit_mask_score_power,
                                                spread_by_true_iou)


def test_spread_by_hand():
    true = np.array([0.05, 0.08, 0.55, 0.95, 1.0])
    pred = np.array([0.2, 0.4, 0.6, 0.7, 0.9])
    out = spread_by_true_iou(true, pred)
    assert out['count'].tolist() == [2, 0, 0, 0, 0, 1, 0, 0, 0, 2]
    np.testing.assert_allclose(out['mean'][[0, 5, 9]], [0.3, 0.6, 0.8])
    np.testing.assert_allclose(out['std'][[0, 5, 9]], [0.1, 0.0, 0.1],
                               atol=1e-12)
    assert np.isnan(out['mean'][1])


def test_compressed_predictions_want_a_higher_power():
    """pred = 0.5 + true / 10 (squeezed, same order as the truth)."""
    rng = np.random.default_rng(0)
    true = rng.uniform(0, 1, 400)
    pred = 0.5 + true / 10
    score = rng.uniform(0.3, 1, 400)
    fit = fit_mask_score_power(score, pred, true, powers=(1, 4, 16))
    assert fit['spearman'][16.0] > fit['spearman'][4.0] > \
        fit['spearman'][1.0] > fit['spearman_cls']
    assert fit['power'] == 16.0
    # a perfect estimate: every power gives the oracle's order exactly
    exact = fit_mask_score_power(score, true, true, powers=(1, 2))
    assert exact['spearman'][1.0] == pytest.approx(1.0)
    assert exact['power'] == 1.0  # the smallest on ties
    with pytest.raises(ValueError, match='positive'):
        fit_mask_score_power(score, pred, true, powers=(0, 1))


def test_tool_on_a_dump(tmp_path):
    n = 50
    rng = np.random.default_rng(1)
    true = rng.uniform(0, 1, n)
    records = dict(
        img_id=np.zeros(n, dtype=np.int64), label=np.zeros(n, np.int64),
        category_id=np.ones(n, np.int64), score=rng.uniform(0.1, 1, n),
        mask_score=np.zeros(n), pred_iou=0.4 + true / 5, true_iou=true,
        area=np.ones(n), maskness=np.full(n, np.nan))
    dump = str(tmp_path / 'd.npz')
    dump_records(records, dump)
    out = load_tool('tools/analysis/fit_mask_score_power.py').main(
        [dump, '--powers', '1', '8', '--out', str(tmp_path / 'f.json')])
    assert out['power'] == 8.0 and out['num_dets'] == n
    assert sum(out['error_by_area']['count']) == int((true > 0).sum())
    # every detection is above 0.1 > 0.05: the first threshold holds them
    assert out['correlation_above_score']['count'][0] == int((true > 0).sum())
    assert out['correlation_above_score']['pearson'][0] == pytest.approx(1.0)


def test_power_in_the_model():
    """mask_score_power changes mask_scores only."""
    base = build_model(tiny_model_cfg())
    powered = build_model(tiny_model_cfg(mask_score_power=3.0))
    powered.load_state_dict(base.state_dict())
    outs = []
    for model in (base, powered):
        model.eval()
        model.test_cfg.rcnn.score_thr = 0.0
        data = demo_batch(model, 4, size=64, training=False)
        with torch.no_grad():
            outs.append(model.predict(*data)[0].pred_instances)
    for key in ('scores', 'labels', 'mask_ious', 'bboxes'):
        assert torch.equal(outs[0].get(key), outs[1].get(key)), key
    torch.testing.assert_close(outs[1].mask_scores,
                               outs[1].scores * outs[1].mask_ious**3)
    with pytest.raises(ValueError, match='must be positive'):
        build_model(tiny_model_cfg(mask_score_power=0))


def test_spread_lines_by_hand():
    from mmdet_msrcnn.evaluation.functional import spread_lines
    lines = spread_lines(dict(count=[3, 0], mean=[0.25, float('nan')],
                              std=[0.05, float('nan')]))
    assert lines == [
        'true IoU bin | count | predicted mean | predicted std',
        '  [0.0, 0.5) |     3 | 0.250 | 0.050',
        '  [0.5, 1.0) |     0 | nan | nan',
    ]


def test_error_by_mask_area_by_hand():
    from mmdet_msrcnn.evaluation.functional import (area_error_lines,
                                                    error_by_mask_area)
    true = np.array([0.0, 0.5, 0.7, 0.8, 0.6, 0.9])
    pred = np.array([0.9, 0.8, 0.8, 0.6, 0.7, 1.3])  # 1.3 clamps to 1
    area = np.array([10., 30., 63., 64., 5000., 2000.])
    out = error_by_mask_area(true, pred, area, edges=(0, 64, 1024, 1e9))
    # the miss (true IoU 0) is left out; bins: [0, 64) holds 0.5 / 0.7,
    # [64, 1024) holds 0.8, [1024, 1e9) holds 0.6 and 0.9
    assert out['count'].tolist() == [2, 1, 2]
    np.testing.assert_allclose(out['true_mean'], [0.6, 0.8, 0.75])
    np.testing.assert_allclose(out['pred_mean'], [0.8, 0.6, 0.85])
    np.testing.assert_allclose(out['bias'], [0.2, -0.2, 0.1], atol=1e-12)
    # errors +0.3 / +0.1, -0.2, +0.1 / +0.1
    np.testing.assert_allclose(out['rmse'],
                               [np.sqrt(0.05), 0.2, 0.1], atol=1e-12)
    empty = error_by_mask_area(true, pred, area, edges=(0, 1, 2))
    assert empty['count'].tolist() == [0, 0] and np.isnan(empty['bias']).all()
    lines = area_error_lines(out, edges=(0, 64, 1024, 1e9))
    assert lines[1] == '  [0, 64) | 2 | 0.600 | 0.800 | +0.200 | 0.224'
    assert lines[2] == '  [64, 1024) | 1 | 0.800 | 0.600 | -0.200 | 0.200'
    with pytest.raises(ValueError, match='increase'):
        error_by_mask_area(true, pred, area, edges=(0, 64, 32))


def test_correlation_above_scores_by_hand():
    from mmdet_msrcnn.evaluation.functional import (correlation_above_scores,
                                                    score_correlation_lines)
    # five hits and a false positive (true IoU 0, never counted)
    score = np.array([0.2, 0.4, 0.6, 0.8, 0.9, 0.95])
    true = np.array([0.1, 0.3, 0.6, 0.7, 0.8, 0.0])
    # the estimate orders the three hits above 0.5 against the truth
    pred = np.array([0.1, 0.3, 0.9, 0.8, 0.7, 0.5])
    out = correlation_above_scores(score, true, pred, thresholds=(0.1, 0.5,
                                                                  0.85))
    assert out['count'].tolist() == [5, 3, 1]
    # above 0.5: pred = 1.6 - true exactly, Pearson and Spearman -1
    assert out['pearson'][1] == pytest.approx(-1.0)
    assert out['spearman'][1] == pytest.approx(-1.0)
    assert out['true_std'][1] == pytest.approx(np.std([0.6, 0.7, 0.8]))
    # over all five hits the low ones pull it up: Spearman from ranks
    # pred ranks 1 2 5 4 3 vs 1 2 3 4 5: 1 - 6 x 8 / (5 x 24) = 0.6
    assert out['spearman'][0] == pytest.approx(0.6)
    assert np.isnan(out['pearson'][2])  # one hit
    lines = score_correlation_lines(out, (0.1, 0.5, 0.85))
    assert lines[2] == '  0.5 | 3 | 0.082 | -1.000 | -1.000'
    with pytest.raises(ValueError, match='must increase'):
        correlation_above_scores(score, true, pred, thresholds=(0.5, 0.1))
