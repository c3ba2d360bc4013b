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


def test_training_cost_of_options_and_hosts(smoke_report):
    from msrcnn_benchmark.train_cost import DEMO_VARIANTS
    _, report, markdown = smoke_report
    cost = report['train_cost']
    assert list(cost) == [key for key, *_ in DEMO_VARIANTS]
    for key, row in cost.items():
        assert row['ms']['median'] > 0, key
        if row['base'] is not None:
            assert row['vs_base']['ratio'] > 0, key
    # no scorer: nothing regressed, no head
    for key in ('mask_rcnn', 'rtmdet_ins', 'solov2'):
        assert cost[key]['scorer_rois'] is None
        assert cost[key]['head_macs_per_roi'] is None
    # the options that train on detections regress more RoIs than the
    # paper's positives; every scorer regresses some
    paper = cost['paper']['scorer_rois']
    assert paper > 0
    assert cost['dets']['scorer_rois'] > paper
    for key in ('dets_balanced', 'dets_balanced_detached',
                'dets_balanced_detached_rank',
                'dets_balanced_detached_rank_score_rank'):  # same weights
        assert cost[key]['scorer_rois'] == cost['dets']['scorer_rois'], key
    # and the jittered option regresses 4 boxes per instance more
    meta = report['meta']
    assert cost['dets_balanced_detached_rank_jitter']['scorer_rois'] == (
        cost['dets']['scorer_rois'] +
        4 * meta['train_batch'] * meta['num_gt'])
    assert cost['rtmdet_ins_ms']['scorer_rois'] > 0
    assert cost['solov2_ms']['scorer_rois'] > 0
    # the frozen upgrade trains the MaskIoU head's parameters only
    head_params = (cost['paper']['trainable_params'] -
                   cost['mask_rcnn']['trainable_params'])
    assert cost['frozen_upgrade']['trainable_params'] == head_params
    # image_input adds the stem (3 + 1 -> 16 -> 16 channels, 3x3) and 16
    # input channels of the first conv (64 wide on the slim demo head)
    conv_out, planes, grid = 64, 16, 28 + 2 * 4
    stem_params = (4 * planes * 9 + planes) + (planes * planes * 9 + planes)
    assert cost['frozen_upgrade_image']['trainable_params'] == (
        head_params + stem_params + planes * conv_out * 9)
    stem_macs = (grid * grid * planes * 4 * 9 +
                 (grid // 2)**2 * planes * planes * 9)
    assert cost['frozen_upgrade_image']['head_macs_per_roi'] == (
        cost['frozen_upgrade']['head_macs_per_roi'] + stem_macs +
        14 * 14 * conv_out * planes * 9)
    assert cost['light_head']['head_macs_per_roi'] < \
        cost['paper']['head_macs_per_roi'] / 4
    assert '| ours + own detections + 10-bin balancing |' in markdown


def _head_macs_by_formula(head) -> int:
    """conv 3x3 layers on (maxpooled mask + feature), then the fcs."""
    size = head.roi_feat_size
    macs, channels = 0, head.in_channels + 1
    for i, conv in enumerate(head.convs):
        stride = 2 if i == len(head.convs) - 1 else 1
        size = size // stride
        out = conv.out_channels
        macs += size * size * out * channels * 9
        channels = out
    features = channels * size * size
    for fc in head.fcs:
        macs += features * fc.out_features
        features = fc.out_features
    return macs + features * head.num_classes


@pytest.mark.parametrize('overrides,expected', [
    (dict(), 24_464_640),  # demo head: 4 convs x 64, 2 fcs x 256
    (dict(num_convs=2, conv_out_channels=32, num_fcs=1,
          fc_out_channels=128), 4_321_920),  # the light head
])
def test_head_macs_per_roi_by_hand(overrides, expected):
    import torch
    from mmdet_msrcnn.models import MaskIoUHead
    from msrcnn_benchmark.train_cost import head_macs_per_roi
    head = MaskIoUHead(
        num_classes=4, roi_feat_size=14, mask_size=28, in_channels=64,
        conv_out_channels=overrides.pop('conv_out_channels', 64),
        fc_out_channels=overrides.pop('fc_out_channels', 256), **overrides)
    assert _head_macs_by_formula(head) == expected
    assert head_macs_per_roi(head, torch.device('cpu')) == expected


def test_training_cost_repeats_a_host_that_converts_its_ground_truth():
    """RTMDet-Ins turns the gt masks into a tensor inside its loss: a
    second timed step must still get BitmapMasks (a copy per step)."""
    import types

    import torch
    from msrcnn_benchmark.detectors import init_scope, quiet_logs
    from msrcnn_benchmark.train_cost import DEMO_VARIANTS, bench_train_cost
    from helpers import REPO_ROOT
    init_scope()
    variants = [v for v in DEMO_VARIANTS if v[0].startswith('rtmdet')]
    args = types.SimpleNamespace(train_batch=1, size=(64, 64), num_gt=2,
                                 seed=0, repeat=2, warmup=1, cls_scale=30.0)
    with quiet_logs():
        cost = bench_train_cost(args, torch.device('cpu'), REPO_ROOT,
                                variants)
    assert cost['rtmdet_ins']['ms']['n'] == 2
    assert len(cost['rtmdet_ins_ms']['vs_base']['ratios']) == 2
    assert cost['rtmdet_ins_ms']['scorer_rois'] > 0


def test_train_cost_tool_times_the_named_rows_and_their_bases(tmp_path):
    """``tools/benchmark/train_cost.py``: a row, its base and the paper
    training, in the table's order; the image-input stem's parameters."""
    from helpers import load_tool
    tool = load_tool('tools/benchmark/train_cost.py')
    assert [v[0] for v in tool.chosen_variants(['frozen_upgrade_image'])] \
        == ['mask_rcnn', 'paper', 'frozen_upgrade_image']
    assert [v[0] for v in tool.chosen_variants(['solov2_ms'])] == [
        'solov2', 'solov2_ms']
    with pytest.raises(SystemExit):
        tool.parse_args(['--rows', 'no_such_row'])
    out = tmp_path / 'cost.json'
    cost = tool.main([
        '--rows', 'frozen_upgrade_image', '--size', '64', '64',
        '--train-batch', '1', '--num-gt', '2', '--repeat', '1', '--warmup',
        '0', '--out-json', str(out)
    ])
    assert list(cost) == ['mask_rcnn', 'paper', 'frozen_upgrade_image']
    row = cost['frozen_upgrade_image']
    assert row['vs_base']['ratio'] > 0 and row['vs_paper']['ratio'] > 0
    head_params = (cost['paper']['trainable_params'] -
                   cost['mask_rcnn']['trainable_params'])
    planes, conv_out = 16, 64
    stem = (4 * planes * 9 + planes) + (planes * planes * 9 + planes)
    assert row['trainable_params'] == head_params + stem + (
        planes * conv_out * 9)
    assert json.loads(out.read_text())['frozen_upgrade_image'][
        'label'] == row['label']
