"""tools/benchmark/speed.py --smoke: every row, positive numbers.

Nothing here is timed: the benchmark runs its tiny mode (slim R18 demo
model, 64 px, one run per measurement) and the test checks the report's
structure only.
"""
import json

import pytest

from helpers import load_tool


def load_speed():
    return load_tool('tools/benchmark/speed.py')


@pytest.fixture(scope='module')
def smoke_report(tmp_path_factory):
    speed = load_speed()
    out = tmp_path_factory.mktemp('speed')
    json_path, md_path = out / 'speed.json', out / 'speed.md'
    speed.main([
        '--smoke', '--device', 'cpu', '--profile', '--out-json',
        str(json_path), '--out-md',
        str(md_path)
    ])
    with open(json_path) as f:
        report = json.load(f)
    return speed, report, md_path.read_text()


def test_every_row_has_positive_timings(smoke_report):
    speed, report, _ = smoke_report
    rows = report['rows']
    assert list(rows) == [key for key, *_ in speed.ROW_SPECS]
    for key, label, unit, impls in speed.ROW_SPECS:
        row = rows[key]
        assert row['unit'] == unit and row['label'] == label
        assert set(row['results']) == set(impls), key
        for impl, st in row['results'].items():
            assert st['n'] >= 1, (key, impl)
            for stat in ('median', 'min', 'max'):
                assert st[stat] > 0, (key, impl, stat)


def test_same_work_for_the_three_models(smoke_report):
    _, report, _ = smoke_report
    info = report['info']
    assert info['same_work'] == 'yes'
    for impl in ('mask_rcnn', 'ours', 'mmdet_ms'):
        assert info['infer_b1_100'][impl]['dets_per_img'] == 100
        assert info['infer_b2_100'][impl]['dets_per_img'] == 100
        assert info['train'][impl]['pos_rois'] > 0
    # the three share every weight but the MaskIoU head's (Mask R-CNN)
    shared = report['meta']['shared_weights']
    assert shared['mmdet_ms'].startswith('0 ')
    assert not shared['mask_rcnn'].startswith('0 ')


def test_flops_checks_and_markdown(smoke_report):
    _, report, markdown = smoke_report
    flops = report['flops']
    for part in ('maskiou_head', 'mask_head', 'bbox_head'):
        per_roi = flops['per_roi'][part]
        assert per_roi['hooks'] > 0
        # conv / linear layers only: the two counts agree
        assert per_roi['hooks'] == per_roi['mmengine'], part
    model = flops['model']['mmengine']
    assert 0 < model['share'] < 1
    assert model['over_mask_rcnn'] > model['share']
    verdicts = [c['verdict'].split()[0] for c in report['checks']]
    # 4 overhead, 6 against mmdet's MS R-CNN, 2 targets, 2 loop checks
    assert len(verdicts) == 14
    assert set(verdicts) <= {'PASS', 'FAIL'}
    # our MaskIoU head has no per-RoI Python loop
    for counts in report['per_roi_loop'].values():
        assert len(set(counts.values())) == 1
    assert report['train_breakdown']['ours']['targets']['median'] > 0
    assert report['phases']['train']['ours']['backward'] > 0
    assert set(report['profile']) == {
        'torch_train', 'torch_infer', 'cprofile_train', 'cprofile_infer'
    }
    assert '| MaskIoU targets | ours (ms)' in markdown
    assert 'ours MS R-CNN' in markdown
