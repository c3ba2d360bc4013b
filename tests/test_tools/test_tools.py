"""tools/train.py flags, and ``mim train`` / ``mim test`` end to end."""
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch

from helpers import REPO_ROOT, load_tool
from training_utils import add_test_loop, runner_cfg

# one intra-op thread, as every test that runs a training (tests/conftest.py)
pytestmark = pytest.mark.usefixtures('one_thread')


def load_train_tool():
    return load_tool('tools/train.py')


@pytest.mark.parametrize('flag', ['--local_rank', '--local-rank'])
def test_train_tool_flags(flag, monkeypatch):
    tool = load_train_tool()
    monkeypatch.delenv('LOCAL_RANK', raising=False)
    config = osp.join(REPO_ROOT, 'configs/demo/ms-rcnn_r18_fpn_shapes.py')
    monkeypatch.setattr(sys, 'argv', [
        'train.py', config, flag, '1', '--launcher', 'pytorch', '--amp',
        '--work-dir', 'w', '--cfg-options',
        'model.roi_head.mask_iou_head.iou_thr=0.5', 'train_cfg.max_epochs=2'
    ])
    args = tool.parse_args()
    assert os.environ['LOCAL_RANK'] == '1'
    cfg = tool.build_config(args)
    assert cfg.launcher == 'pytorch' and cfg.work_dir == 'w'
    assert cfg.model.roi_head.mask_iou_head.iou_thr == 0.5
    assert cfg.train_cfg.max_epochs == 2
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'


def test_mim_train_then_mim_test(shapes_root, tmp_path):
    """mmdet's own train/test scripts through mim, on our config."""
    mim = osp.join(osp.dirname(sys.executable), 'mim')
    if not osp.exists(mim):
        pytest.skip('openmim is not installed in this environment')
    cfg = add_test_loop(
        runner_cfg(shapes_root, tmp_path / 'unused', max_iters=2),
        shapes_root)
    cfg.pop('work_dir')
    cfg.log_level = 'INFO'  # the metrics are logged at INFO
    config = str(tmp_path / 'tiny_ms_rcnn.py')
    cfg.dump(config)
    env = dict(os.environ, OMP_NUM_THREADS='1',
               PYTHONPATH=os.pathsep.join(
                   [REPO_ROOT] + [os.environ.get('PYTHONPATH', '')]))
    work_dir = tmp_path / 'mim_work'
    train = subprocess.run(
        [mim, 'train', 'mmdet', config, '--work-dir',
         str(work_dir)],
        capture_output=True, text=True, env=env, timeout=300)
    assert train.returncode == 0, train.stdout[-3000:] + train.stderr[-3000:]
    ckpt = work_dir / 'iter_2.pth'
    state = torch.load(ckpt, weights_only=True)['state_dict']
    # our MaskIoU head was trained (mmdet's has no `input_mode` option, and
    # mmdet's RoI head would not build with our roi_head keys)
    assert any(k.startswith('roi_head.mask_iou_head.fc_mask_iou')
               for k in state)
    test = subprocess.run(
        [mim, 'test', 'mmdet', config, '--checkpoint',
         str(ckpt), '--work-dir',
         str(tmp_path / 'mim_test')],
        capture_output=True, text=True, env=env, timeout=300)
    out = test.stdout + test.stderr
    assert test.returncode == 0, out[-3000:]
    assert 'mask_quality/pearson_iou' in out and 'coco/segm_mAP' in out
