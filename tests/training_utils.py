"""Helpers of the training-run tests: tiny runner configs and test hooks.

Everything is sized for two shared CPU cores: 8 training images of 64 px,
batch 2, a few iterations of the slim demo model.
"""
import copy
import uuid

import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import set_random_seed

from helpers import DEMO_MS

NUM_TRAIN = 8
IMG_SIZE = 64


def without_yapf(cfg: Config) -> Config:
    """Skip yapf when the runner prints or saves the config.

    Formatting the config text takes about a second per call (the runner
    calls it at start and in every checkpoint); mmengine 0.10.7's
    ``Config.fromfile`` ignores ``format_python_code`` for plain configs.
    """
    object.__setattr__(cfg, '_format_python_code', False)
    return cfg


def runner_cfg(data_root: str,
               work_dir: str,
               max_iters: int = 4,
               ckpt_interval: int = 2,
               batch_size: int = 2) -> Config:
    """The demo Mask Scoring R-CNN as an iteration-based tiny run.

    Deterministic input: no random flip, ``num_workers=0``, a seeded
    sampler; validation is off. The learning rate changes at every
    iteration (linear warm-up over the whole run), so a resumed run with a
    wrong scheduler state shows.
    """
    cfg = without_yapf(Config.fromfile(DEMO_MS))
    cfg.work_dir = str(work_dir)
    cfg.experiment_name = f'reliability_{uuid.uuid4().hex[:8]}'
    cfg.launcher = 'none'
    cfg.log_level = 'WARNING'
    train_pipeline = [
        dict(type='LoadImageFromFile', backend_args=None),
        dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
        dict(type='Resize', scale=(IMG_SIZE, IMG_SIZE), keep_ratio=True),
        dict(type='PackDetInputs')
    ]
    cfg.train_dataloader = dict(
        batch_size=batch_size,
        num_workers=0,
        persistent_workers=False,
        sampler=dict(type='DefaultSampler', shuffle=True),
        batch_sampler=dict(type='AspectRatioBatchSampler'),
        dataset=dict(
            type='mmdet_msrcnn.CheckedCocoDataset',
            data_root=data_root,
            metainfo=copy.deepcopy(cfg.metainfo),
            ann_file='annotations/instances_train.json',
            data_prefix=dict(img='images/train/'),
            filter_cfg=dict(filter_empty_gt=True, min_size=8),
            pipeline=train_pipeline))
    for key in ('val', 'test'):
        cfg[f'{key}_dataloader'] = None
        cfg[f'{key}_cfg'] = None
        cfg[f'{key}_evaluator'] = None
    cfg.train_cfg = dict(
        type='IterBasedTrainLoop', max_iters=max_iters, val_interval=10**6)
    cfg.param_scheduler = [
        dict(
            type='LinearLR',
            start_factor=0.1,
            by_epoch=False,
            begin=0,
            end=max_iters)
    ]
    cfg.default_hooks.checkpoint = dict(
        type='CheckpointHook',
        interval=ckpt_interval,
        by_epoch=False,
        max_keep_ckpts=-1)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
    cfg.log_processor = dict(
        type='LogProcessor', window_size=1, by_epoch=False)
    cfg.visualizer = dict(
        type='DetLocalVisualizer',
        vis_backends=[dict(type='LocalVisBackend')],
        name=cfg.experiment_name)
    cfg.randomness = dict(seed=0, deterministic=False)
    cfg.env_cfg = dict(
        cudnn_benchmark=False,
        mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
        dist_cfg=dict(backend='gloo'))
    cfg.resume = False
    cfg.load_from = None
    return cfg


def epoch_runner_cfg(data_root: str,
                     work_dir: str,
                     max_epochs: int = 2,
                     batch_size: int = 4,
                     random_flip: bool = True) -> Config:
    """:func:`runner_cfg` as an epoch-based run with a checkpoint per epoch.

    8 images in batches of 4: 2 iterations per epoch. ``random_flip`` adds
    the demo's ``RandomFlip`` (numpy's global generator, in the main process
    with ``num_workers=0``) on top of the RoI samplers' torch draws. The
    learning rate still changes at every iteration.
    """
    cfg = runner_cfg(data_root, work_dir, batch_size=batch_size)
    if random_flip:
        pipeline = cfg.train_dataloader.dataset.pipeline
        pipeline.insert(-1, dict(type='RandomFlip', prob=0.5))
    iters = max_epochs * -(-NUM_TRAIN // batch_size)
    cfg.train_cfg = dict(
        type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=10**6)
    cfg.param_scheduler = [
        dict(
            type='LinearLR',
            start_factor=0.1,
            by_epoch=False,
            begin=0,
            end=iters)
    ]
    cfg.default_hooks.checkpoint = dict(
        type='CheckpointHook', interval=1, by_epoch=True, max_keep_ckpts=-1)
    cfg.log_processor = dict(type='LogProcessor', window_size=1, by_epoch=True)
    return cfg


def add_test_loop(cfg: Config, data_root: str) -> Config:
    """Test on the val images with CocoMetric (segm) and our metric."""
    import os.path as osp
    demo = Config.fromfile(DEMO_MS)
    ann = osp.join(data_root, 'annotations/instances_val.json')
    cfg.test_dataloader = demo.test_dataloader
    cfg.test_dataloader.dataset.data_root = data_root
    cfg.test_evaluator = [
        dict(type='CocoMetric', ann_file=ann, metric=['segm']),
        dict(type='mmdet_msrcnn.MaskQualityMetric', ann_file=ann)
    ]
    cfg.test_cfg = dict(type='TestLoop')
    return cfg


class ReseedHook(Hook):
    """Seed every RNG from the iteration number before each iteration.

    The randomness of an iteration then depends on its index only, whatever
    the checkpoint holds. The shared ``trained_run`` uses it; the
    exact-resume tests do without (``reseed=False``): there the demo
    configs' ``mmdet_msrcnn.RNGStateHook`` restores the RNG states.
    """

    priority = 'HIGHEST'

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        set_random_seed(1000 + runner.iter)


class RecordHook(Hook):
    """Keep the losses and learning rate of every training iteration."""

    priority = 'LOW'

    def __init__(self):
        self.records = []

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None):
        self.records.append(
            dict(
                iter=runner.iter + 1,
                lr=runner.optim_wrapper.get_lr()['lr'][0],
                **{
                    k: float(v)
                    for k, v in (outputs or {}).items()
                }))


class StopHook(Hook):
    """Interrupt training (a crash) after an iteration or an epoch.

    Args:
        stop_iter (int, optional): Stop after this many iterations.
        stop_epoch (int, optional): Stop after this many epochs.
    """

    priority = 'LOWEST'  # after the checkpoint hook

    def __init__(self, stop_iter=None, stop_epoch=None):
        self.stop_iter = stop_iter
        self.stop_epoch = stop_epoch

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None):
        if self.stop_iter is not None and runner.iter + 1 >= self.stop_iter:
            raise Interrupted(f'stopped after iteration {runner.iter + 1}')

    def after_train_epoch(self, runner):
        if (self.stop_epoch is not None
                and runner.epoch + 1 >= self.stop_epoch):
            raise Interrupted(f'stopped after epoch {runner.epoch + 1}')


class Interrupted(RuntimeError):
    """Raised by :class:`StopHook`."""


def train_runner(cfg: Config, stop_iter=None, stop_epoch=None, reseed=True):
    """Build a runner from ``cfg``, train it, return it and its records.

    Args:
        cfg (Config): From :func:`runner_cfg` or :func:`epoch_runner_cfg`.
        stop_iter (int, optional): Interrupt after this iteration.
        stop_epoch (int, optional): Interrupt after this epoch.
        reseed (bool): Register :class:`ReseedHook`. Defaults to True.

    Returns:
        tuple[Runner, list[dict]]: The runner and per-iteration records.
    """
    from mmengine.runner import Runner
    runner = Runner.from_cfg(cfg)
    recorder = RecordHook()
    if reseed:
        runner.register_hook(ReseedHook())
    runner.register_hook(recorder)
    if stop_iter is not None or stop_epoch is not None:
        runner.register_hook(StopHook(stop_iter, stop_epoch))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # two shared cores
    try:
        runner.train()
    except Interrupted:
        pass
    finally:
        torch.set_num_threads(threads)
    return runner, recorder.records
