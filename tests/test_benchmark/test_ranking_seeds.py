"""tools/benchmark/ranking_seeds.py: derived gains, Spearman from a dump,
mean ± std over seeds, on hand-built runs."""
import json

import pytest

from helpers import load_tool


def _write_run(root, name, seed, segm, score_segm, segm75, score75,
               extra=None, dets=None):
    run = root / name
    run.mkdir(parents=True)
    metrics = {
        'coco/bbox_mAP': 0.5,
        'mask_quality/segm_mAP': segm,
        'mask_quality/segm_mAP_75': segm75,
        'mask_quality/pearson_iou': 0.4,
    }
    if score_segm is not None:
        metrics['mask_quality/score_segm_mAP'] = score_segm
        metrics['mask_quality/score_segm_mAP_75'] = score75
    metrics.update(extra or {})
    (run / 'metrics.json').write_text(
        json.dumps(dict(name=name, seed=seed, train_s=600.0,
                        metrics=metrics)))
    if dets is not None:
        (run / 'mask_quality_dets.json').write_text(json.dumps(dets))
    return run / 'metrics.json'


def test_gains_and_spearman_from_the_dump(tmp_path):
    tool = load_tool('tools/benchmark/ranking_seeds.py')
    # 5 detections: one under the score threshold, one false positive; the
    # 3 hits kept have predicted .9 .5 .7 and true .8 .3 .6: same order,
    # Spearman 1 (Pearson would not be 1)
    dets = dict(score=[0.9, 0.8, 0.7, 0.6, 0.01],
                pred_iou=[0.9, 0.5, 0.7, 0.2, 0.1],
                true_iou=[0.8, 0.3, 0.6, 0.0, 0.9])
    path = _write_run(tmp_path / 'a', 'ours', 0, 0.40, 0.37, 0.39, 0.35,
                      dets=dets)
    run = tool.load_run(str(path))
    m = run['metrics']
    assert m['gain/ap'] == pytest.approx(0.03)
    assert m['gain/ap75'] == pytest.approx(0.04)
    assert m['gain/train_min'] == pytest.approx(10.0)
    assert m['mask_quality/spearman_iou_hits'] == pytest.approx(1.0)
    # a wrong order among the hits: predicted .5 .9 .7 -> ranks 1 3 2 vs
    # 3 1 2: rho = 1 - 6 * (4 + 4 + 0) / (3 * 8) = -1
    dets['pred_iou'] = [0.5, 0.9, 0.7, 0.2, 0.1]
    path = _write_run(tmp_path / 'b', 'ours', 1, 0.40, 0.37, 0.39, 0.35,
                      dets=dets)
    assert tool.load_run(str(path))['metrics'][
        'mask_quality/spearman_iou_hits'] == pytest.approx(-1.0)


def test_a_model_without_rescoring_has_zero_gain(tmp_path):
    tool = load_tool('tools/benchmark/ranking_seeds.py')
    path = _write_run(tmp_path, 'mask-rcnn', 0, 0.38, None, 0.36, None)
    m = tool.load_run(str(path))['metrics']
    assert m['mask_quality/score_segm_mAP'] == 0.38
    assert m['gain/ap'] == 0 and m['gain/ap75'] == 0


def test_mean_and_std_over_seeds_keep_negative_gains(tmp_path):
    tool = load_tool('tools/benchmark/ranking_seeds.py')
    # gains +0.02 and -0.01: mean +0.5, population std 1.5 (in AP points)
    _write_run(tmp_path / 's0', 'ours', 0, 0.40, 0.38, 0.39, 0.35)
    _write_run(tmp_path / 's1', 'ours', 1, 0.36, 0.37, 0.39, 0.35)
    runs = tool.find_runs([str(tmp_path / 's0'), str(tmp_path / 's1')])
    _, md = tool.seeds_table(runs)
    lines = md.splitlines()
    assert lines[2].startswith('| ours | 0 | 50.0 | 38.0 |')
    assert '| -1.0 |' in lines[3]  # a negative gain is shown, not dropped
    mean = lines[4].split(' | ')
    assert mean[1] == 'mean of 2'
    gain_col = 2 + [c[0] for c in tool.COLUMNS].index('AP gain')
    assert mean[gain_col] == '0.5 ± 1.5'


def test_a_dir_without_runs_is_refused(tmp_path):
    tool = load_tool('tools/benchmark/ranking_seeds.py')
    with pytest.raises(SystemExit, match='no <config>/metrics.json'):
        tool.find_runs([str(tmp_path)])


def test_median_iteration_time_of_the_training_log(tmp_path):
    tool = load_tool('tools/benchmark/ranking_seeds.py')
    path = _write_run(tmp_path, 'ours', 0, 0.4, 0.37, 0.39, 0.35)
    log_dir = path.parent / '20261202_000000'
    log_dir.mkdir()
    lines = [
        '12/02 - mmengine - INFO - Epoch(train)  [1][ 20/100]  lr: 1e-3  '
        f'eta: 0:01:00  time: {t}  data_time: 0.0060  loss: 1.0'
        for t in ('0.3000', '0.2000', '9.0000')  # 9 s: a paused iteration
    ] + ['12/02 - mmengine - INFO - Epoch(test) [25/25]  time: 0.1000']
    (log_dir / '20261202_000000.log').write_text('\n'.join(lines))
    m = tool.load_run(str(path))['metrics']
    assert m['gain/iter_s'] == pytest.approx(0.3)
