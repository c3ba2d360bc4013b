"""Evaluate a checkpoint (mmdet style).

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out PKL]
        [--show-dir DIR] [--cfg-options k=v ...] [--launcher ...]
"""
import argparse
import os
import os.path as osp

from mmengine.config import Config, DictAction
from mmengine.runner import Runner


def parse_args():
    parser = argparse.ArgumentParser(description='Test a detector')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='where the evaluation log goes')
    parser.add_argument(
        '--out', help='dump the predictions to a pickle file (.pkl)')
    parser.add_argument(
        '--show-dir',
        help='save images drawn with their predictions under this folder '
        '(relative to the work dir)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config entries')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def main():
    args = parse_args()
    from mmdet.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    import mmdet_msrcnn  # noqa: F401
    from mmdet_msrcnn.utils import (refuse_unsafe_checkpoint,
                                    runner_checkpoint_types_allowed,
                                    setup_cpu_distributed)
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    cfg.load_from = args.checkpoint
    if args.show_dir:
        vis = cfg.default_hooks.visualization
        vis.draw = True
        vis.test_out_dir = args.show_dir
    if args.out is not None:
        if not args.out.endswith(('.pkl', '.pickle')):
            raise ValueError(f'--out {args.out}: use a .pkl file name.')
        cfg.test_evaluator = (
            list(cfg.test_evaluator) if isinstance(
                cfg.test_evaluator, (list, tuple)) else [cfg.test_evaluator])
        cfg.test_evaluator.append(
            dict(type='DumpDetResults', out_file_path=args.out))
    setup_cpu_distributed(cfg)
    runner = Runner.from_cfg(cfg)
    # weights-only load of runner checkpoints (opt-in for this run only);
    # a checkpoint that needs any other global is refused
    with runner_checkpoint_types_allowed(), \
            refuse_unsafe_checkpoint(args.checkpoint):
        runner.test()


if __name__ == '__main__':
    main()
