"""tools/benchmark/upgrade_screen.py: the scorer trains on the training
images after the held-out ones, the held-out images are what it is compared
on, the detector is the checkpoint's, and a finished upgrade is reused."""
import json
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config

from helpers import REPO_ROOT, load_tool
from mmdet_msrcnn.evaluation.functional import load_records

SHAPES_UPGRADE = osp.join(
    REPO_ROOT, 'configs/upgrade/ms-rcnn_r18_fpn_shapes_frozen-upgrade.py')


@pytest.fixture(scope='module')
def detector(tmp_path_factory):
    """A demo Mask R-CNN trained 1 epoch on 4 images."""
    out = tmp_path_factory.mktemp('det')
    load_tool('tools/benchmark/ablation.py').main([
        '--configs',
        osp.join(REPO_ROOT, 'configs/demo/mask-rcnn_r18_fpn_shapes.py'),
        '--epochs', '1', '--num-train', '4', '--num-val', '2', '--work-dir',
        str(out)
    ])
    return str(out / 'mask-rcnn_r18_fpn_shapes' / 'epoch_1.pth')


def test_upgrade_on_the_rest_compare_on_the_held_out(detector, tmp_path,
                                                     monkeypatch):
    tool = load_tool('tools/benchmark/upgrade_screen.py')
    argv = [
        detector, '--configs', SHAPES_UPGRADE, '--data-root', 'data/shapes/',
        '--img-dir', 'images/{split}/', '--num-train', '8', '--holdout', '3',
        '--max-dets', '100', '--work-dir',
        str(tmp_path)
    ]
    row, = tool.main(argv)
    run_dir = tmp_path / 'ms-rcnn_r18_fpn_shapes_frozen-upgrade'
    # trained on images 3..7 only
    cfg = Config.fromfile(str(run_dir / 'ms-rcnn_r18_fpn_shapes_frozen-upgrade.py'))
    assert list(cfg.train_dataloader.dataset.indices) == [3, 4, 5, 6, 7]
    # compared on the 3 held-out training images, all rankings of one set
    # of masks (the detector's: the cls-ranked AP is the detector's own)
    held = row['holdout']
    dumped = load_records(str(run_dir / 'holdout_dets.npz'))
    with open('data/shapes/annotations/instances_train.json') as f:
        train_ids = [img['id'] for img in json.load(f)['images']]
    assert set(dumped['img_id'].tolist()) <= set(train_ids[:3])
    assert len(dumped['img_id']) == held['num_dets_all'] > 0
    for key in ('score_segm_mAP', 'maskness_segm_mAP', 'segm_mAP',
                'oracle_segm_mAP', 'headroom_recovered'):
        assert key in held, key
    assert held['oracle_segm_mAP'] >= held['score_segm_mAP']
    assert 'val' not in row
    # the frozen detector: every non-scorer weight is the checkpoint's
    up = torch.load(row['checkpoint'], weights_only=True)['state_dict']
    det = torch.load(detector, weights_only=True)['state_dict']
    for key, value in det.items():
        assert torch.equal(up[key], value), key
    # a second call reuses the upgrade (no training) and evaluates again
    upgrade = load_tool('tools/upgrade_scoring.py')

    def refuse(argv):
        raise AssertionError('retrained a finished upgrade')

    monkeypatch.setattr(upgrade, 'main', refuse)
    monkeypatch.setattr(tool, 'load_script',
                        lambda path: upgrade if 'upgrade_scoring' in path
                        else load_tool(osp.relpath(path, REPO_ROOT)))
    again, = tool.main(argv + ['--val', '--num-val', '2', '--fit-images',
                               '4', '6'])
    np.testing.assert_equal(again['holdout'], held)  # NaN == NaN here
    assert again['reused'] and not row['reused']
    assert again['upgrade_min'] == row['upgrade_min']
    # the dumps keep the masks (tools/analysis/headroom_curve.py)
    assert len(load_records(str(run_dir / 'holdout_dets.npz'))['rles']) \
        == held['num_dets_all']
    assert again['val']['num_dets'] > 0
    # the fit set: training images 4 and 5, which the scorer trained on
    fit = load_records(str(run_dir / 'fit_dets.npz'))
    assert set(fit['img_id'].tolist()) <= set(train_ids[4:6])
    assert len(fit['img_id']) == again['fit']['num_dets_all'] > 0


def test_holdout_must_leave_training_images():
    tool = load_tool('tools/benchmark/upgrade_screen.py')
    with pytest.raises(SystemExit):
        tool.parse_args(['x.pth', '--configs', 'c.py', '--num-train', '8',
                         '--holdout', '8'])


@pytest.mark.parametrize('fit_images', [('2', '5'), ('5', '5'), ('6', '9')])
def test_fit_images_must_be_upgrade_training_images(fit_images, capsys):
    tool = load_tool('tools/benchmark/upgrade_screen.py')
    argv = ['x.pth', '--configs', 'c.py', '--num-train', '8', '--holdout',
            '3', '--fit-images', *fit_images]
    with pytest.raises(SystemExit):
        tool.parse_args(argv)
    assert 'never on the held-out ones' in capsys.readouterr().err
    assert tool.parse_args(argv[:-2] + ['3', '8']).fit_images == [3, 8]
