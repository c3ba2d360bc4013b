"""Add scoring to a trained detector: train only the scorer of CONFIG.

    python tools/upgrade_scoring.py CONFIG CHECKPOINT [--epochs N]
        [--work-dir DIR] [--resume [CKPT]] [--amp] [--cfg-options k=v ...]
        [--launcher {none,pytorch,slurm,mpi}]

CONFIG is a scored model (e.g.
``configs/upgrade/ms-rcnn_r18_fpn_shapes_frozen-upgrade.py``, or any config
with a MaskIoU head / ``mask_scorer``); CHECKPOINT a trained detector of
the same architecture without the scorer (``tools/train.py``'s runner
checkpoint of the plain Mask R-CNN config, an mmdet zoo ``.pth``). The
config's ``mmdet_msrcnn.FreezeDetectorHook`` (added when missing) loads
CHECKPOINT weights-only, refuses any missing key outside the scorer and any
unexpected key, freezes everything but the scorer (frozen BatchNorm and
dropout in eval mode) and the run trains the scorer for the config's
schedule (``--epochs N`` to change it). Nothing of the checkpoint's
optimizer, schedulers or epoch is resumed. ``--resume`` continues an
interrupted upgrade from its own work dir, as in ``tools/train.py``.
"""
import argparse
import importlib.util
import os
import os.path as osp

from mmengine.config import DictAction
from mmengine.runner import Runner


def _train_tool():
    """``tools/train.py`` (its ``build_config``: work dir, amp, resume)."""
    path = osp.join(osp.dirname(osp.abspath(__file__)), 'train.py')
    spec = importlib.util.spec_from_file_location('_msrcnn_train_tool', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Train only the scorer of CONFIG, starting from a '
        'trained detector CHECKPOINT (frozen).')
    parser.add_argument('config', help='config of the scored model')
    parser.add_argument(
        'checkpoint',
        help='trained detector without the scorer (a local .pth; loaded '
        'weights-only)')
    parser.add_argument(
        '--epochs',
        type=int,
        help='length of the upgrade (train_cfg.'
        'max_epochs; the config default otherwise)')
    parser.add_argument('--work-dir', help='where logs and checkpoints go')
    parser.add_argument(
        '--amp', action='store_true', help='automatic mixed precision')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='continue an interrupted upgrade from the given checkpoint of '
        'this upgrade, or from the latest one in the work dir')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config entries, e.g. train_dataloader.batch_size=2')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    args.auto_scale_lr = False
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def build_config(args):
    """The config of the upgrade run."""
    from mmdet_msrcnn.engine import configure_scorer_upgrade
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(
            f'Detector checkpoint {args.checkpoint} does not exist (a local '
            'file is needed; download a zoo checkpoint first).')
    cfg = _train_tool().build_config(args)
    return configure_scorer_upgrade(cfg, args.checkpoint, args.epochs)


def main(argv=None):
    args = parse_args(argv)
    from mmdet.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    import mmdet_msrcnn  # noqa: F401
    from mmdet_msrcnn.utils import (refuse_unsafe_checkpoint,
                                    runner_checkpoint_types_allowed,
                                    setup_cpu_distributed)
    cfg = build_config(args)
    setup_cpu_distributed(cfg)
    runner = Runner.from_cfg(cfg)
    # the detector checkpoint and a --resume checkpoint load weights-only
    with runner_checkpoint_types_allowed(), refuse_unsafe_checkpoint(
            cfg.get('load_from') or args.checkpoint):
        runner.train()
    return runner


if __name__ == '__main__':
    main()
