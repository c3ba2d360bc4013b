"""Train only the scorer of a trained detector (``FreezeDetectorHook``).

Enable it in a config next to the other custom hooks::

    custom_hooks = [
        dict(type='mmdet_msrcnn.RNGStateHook'),
        dict(type='mmdet_msrcnn.FreezeDetectorHook',
             checkpoint='work_dirs/mask-rcnn_r18_fpn_shapes/epoch_12.pth'),
    ]

``tools/upgrade_scoring.py CONFIG CHECKPOINT`` sets ``checkpoint`` (and adds
the hook to a config without one).
"""
from typing import Optional, Sequence, Union

from mmengine.hooks import Hook
from mmengine.logging import print_log
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from mmdet_msrcnn.registry import HOOKS
from ..detector_checkpoint import load_detector_checkpoint
from ..freeze import (freeze_detector, frozen_modules, resolve_trainable,
                      unwrap_model)


@HOOKS.register_module()
class FreezeDetectorHook(Hook):
    """Load a trained detector, freeze it and train only its scorer.

    * ``before_train`` (after mmengine initialized the weights and handled
      ``load_from`` / ``resume``): loads ``checkpoint`` with
      :func:`~mmdet_msrcnn.engine.load_detector_checkpoint` (weights-only;
      only the scorer's keys may be missing; optimizer and epoch are not
      taken over), then :func:`~mmdet_msrcnn.engine.freeze_detector` and
      logs what was frozen. Without ``checkpoint`` the config's
      ``load_from`` is loaded again the same checked way (mmengine's own
      ``load_from`` only warns about missing keys). A resumed upgrade
      (``--resume``: the loop continues at a saved iteration) loads nothing
      more: its checkpoint holds the detector and the partly trained
      scorer. An ``EMAHook``'s averaged copy, made before the load, is
      given the loaded weights.
    * ``before_train_iter``: puts the frozen submodules back in eval mode.
      mmengine's loops call ``model.train()`` after ``before_train_epoch``
      (``EpochBasedTrainLoop.run_epoch``) and before every iteration
      (``IterBasedTrainLoop.run``), so this is the first hook point after
      that call; BatchNorm keeps its running statistics and dropout is off
      in the frozen part, as at test time.

    The host's own losses are still computed by mmdet (no gradient flows:
    their parameters do not require one) and logged; only the scorer's
    losses train anything.

    Distributed training: DDP wraps the model before any hook runs, so the
    frozen parameters are still registered with it; the run needs
    ``find_unused_parameters=True`` (set at the top level of the config, as
    the ``configs/upgrade`` configs do). Without it the hook stops with an
    error rather than hanging in the gradient reduction.

    Args:
        trainable (str | list[str], optional): Name prefixes of the
            submodules to train. Defaults to the model's scorer
            (``roi_head.mask_iou_head``, ``mask_scorer``).
        checkpoint (str, optional): The trained detector (a local file).
            Defaults to None (the config's ``load_from``).
    """

    priority = 'ABOVE_NORMAL'

    def __init__(self,
                 trainable: Union[str, Sequence[str], None] = None,
                 checkpoint: Optional[str] = None) -> None:
        self.trainable = trainable
        self.checkpoint = checkpoint
        self._prefixes = None
        self._frozen = []
        self._runner_loaded = False

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Note that mmengine loaded (``load_from``) or resumed a checkpoint.

        Args:
            runner (Runner): The runner.
            checkpoint (dict): The loaded checkpoint.
        """
        self._runner_loaded = True

    def before_train(self, runner) -> None:
        """Load the detector, freeze it and log what was frozen.

        Args:
            runner (Runner): The runner.

        Raises:
            ValueError: No checkpoint to upgrade, both ``checkpoint`` and
                ``load_from``, DDP without ``find_unused_parameters``, or a
                trainable prefix that matches nothing.
            DetectorCheckpointError: The checkpoint does not fit the model.
        """
        model = unwrap_model(runner.model)
        self._check_ddp(runner.model)
        prefixes = resolve_trainable(model, self.trainable)
        loop = runner.train_loop
        cfg = getattr(runner, 'cfg', None) or {}
        resumed = self._runner_loaded and bool(cfg.get('resume')) and \
            loop.iter > 0
        if resumed:
            print_log(
                f'FreezeDetectorHook: resumed at iteration {loop.iter}; the '
                'detector comes from that checkpoint, '
                f'{self.checkpoint or "load_from"} is not loaded again.',
                logger='current')
        else:
            self._load(runner, model, prefixes, cfg)
            self._sync_averaged_models(runner, model)
        summary = freeze_detector(model, prefixes)
        self._prefixes = prefixes
        self._frozen = frozen_modules(model, prefixes)
        self._set_eval()
        print_log(
            f'FreezeDetectorHook: {summary}. In eval mode throughout: '
            f'{", ".join(name for name, _ in self._frozen)}.',
            logger='current')

    def before_train_iter(self,
                          runner,
                          batch_idx: int,
                          data_batch=None) -> None:
        """Put the frozen submodules in eval mode after ``model.train()``.

        Args:
            runner (Runner): The runner.
            batch_idx (int): Index of the batch in the epoch.
            data_batch: The batch. Unused.
        """
        self._set_eval()

    def _set_eval(self) -> None:
        for _, module in self._frozen:
            if module.training:
                module.eval()

    def _load(self, runner, model, prefixes, cfg) -> None:
        """Load ``checkpoint`` (or ``load_from``) the checked way."""
        load_from = cfg.get('load_from') if self._runner_loaded else None
        if self.checkpoint is not None and load_from:
            raise ValueError(
                'FreezeDetectorHook: both its checkpoint '
                f'({self.checkpoint}) and load_from ({load_from}) are set; '
                'keep one (tools/upgrade_scoring.py clears load_from).')
        source = self.checkpoint or load_from
        if not source:
            raise ValueError(
                'FreezeDetectorHook: no trained detector to upgrade: set the '
                "hook's `checkpoint` (tools/upgrade_scoring.py CONFIG "
                'CHECKPOINT does) or `load_from`. Freezing a randomly '
                'initialized detector trains the scorer on noise.')
        load_detector_checkpoint(model, source, prefixes)

    @staticmethod
    def _sync_averaged_models(runner, model) -> None:
        """Give averaged copies of the model (``EMAHook``) the new weights.

        mmengine's ``EMAHook`` copies the model in ``before_run``, before
        the detector is loaded here; its copy would otherwise average from
        the random initialization and be swapped in for validation and
        checkpoints.
        """
        synced = []
        for hook in getattr(runner, 'hooks', []):
            module = getattr(getattr(hook, 'ema_model', None), 'module', None)
            if isinstance(module, nn.Module):
                module.load_state_dict(model.state_dict())
                synced.append(type(hook).__name__)
        if synced:
            print_log(
                'FreezeDetectorHook: the averaged model of '
                f'{", ".join(synced)} starts from the loaded detector.',
                logger='current')

    @staticmethod
    def _check_ddp(model) -> None:
        if isinstance(model, DistributedDataParallel) and \
                not model.find_unused_parameters:
            raise ValueError(
                'FreezeDetectorHook: the model is wrapped in '
                'DistributedDataParallel with find_unused_parameters=False; '
                'the frozen parameters get no gradient, so the gradient '
                'reduction would wait for them. Set '
                '`find_unused_parameters = True` in the config.')
