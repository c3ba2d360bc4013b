"""The config side of ``tools/upgrade_scoring.py``.

:func:`configure_scorer_upgrade` turns the config of a scored model into
the upgrade of a trained detector: the :class:`FreezeDetectorHook` loads
CHECKPOINT (checked, weights-only, nothing resumed), freezes the detector
and trains the scorer only.
"""
from typing import Optional

from mmengine.config import Config, ConfigDict
from mmengine.logging import print_log

#: The type names that select :class:`FreezeDetectorHook`.
HOOK_TYPES = ('mmdet_msrcnn.FreezeDetectorHook', 'FreezeDetectorHook')


def _hook_entries(cfg: Config) -> list:
    hooks = cfg.get('custom_hooks') or []
    return [
        h for h in hooks if isinstance(h, dict) and h.get('type') in HOOK_TYPES
    ]


def configure_scorer_upgrade(cfg: Config,
                             checkpoint: str,
                             epochs: Optional[int] = None) -> Config:
    """Set ``cfg`` up to train only the scorer, starting from a detector.

    * The config's ``FreezeDetectorHook`` gets ``checkpoint`` (a config
      without one gets ``dict(type='mmdet_msrcnn.FreezeDetectorHook')``
      appended to ``custom_hooks``: its scorer, by default).
    * ``load_from`` is cleared unless the run resumes (``resume=True``):
      mmengine would load it non-strictly and the hook loads CHECKPOINT
      itself; a resumed upgrade continues from its own checkpoint.
    * ``find_unused_parameters=True`` (distributed runs; no effect
      otherwise) unless a ``model_wrapper_cfg`` is given.
    * ``epochs``: ``train_cfg.max_epochs``; the validation and checkpoint
      intervals are shortened to it where longer.

    Args:
        cfg (Config): The scored model's config (changed in place).
        checkpoint (str): The trained detector.
        epochs (int, optional): Length of the upgrade in epochs.

    Returns:
        Config: ``cfg``.

    Raises:
        ValueError: Several FreezeDetectorHooks, or ``epochs`` for an
            iteration-based ``train_cfg``.
    """
    entries = _hook_entries(cfg)
    if len(entries) > 1:
        raise ValueError(
            f'custom_hooks holds {len(entries)} FreezeDetectorHooks; keep '
            'one.')
    if not entries:
        hooks = list(cfg.get('custom_hooks') or [])
        hooks.append(ConfigDict(type='mmdet_msrcnn.FreezeDetectorHook'))
        cfg.custom_hooks = hooks
        entries = _hook_entries(cfg)
    entries[0]['checkpoint'] = str(checkpoint)
    if not cfg.get('resume', False):
        if cfg.get('load_from'):
            print_log(
                f'upgrade_scoring: load_from={cfg.load_from!r} is replaced '
                f'by the detector checkpoint {checkpoint}.',
                logger='current')
        cfg.load_from = None
    if cfg.get('model_wrapper_cfg') is None:
        cfg.find_unused_parameters = True
    if epochs is not None:
        _set_epochs(cfg, int(epochs))
    return cfg


def _set_epochs(cfg: Config, epochs: int) -> None:
    if epochs < 1:
        raise ValueError(f'--epochs {epochs}: give at least 1.')
    train_cfg = cfg.get('train_cfg') or {}
    if 'max_iters' in train_cfg or train_cfg.get('by_epoch') is False or \
            train_cfg.get('type') in ('IterBasedTrainLoop', ):
        raise ValueError(
            '--epochs needs an epoch-based train_cfg; this config trains by '
            'iterations: set train_cfg.max_iters with --cfg-options.')
    train_cfg['max_epochs'] = epochs
    if train_cfg.get('val_interval', 1) > epochs:
        train_cfg['val_interval'] = epochs
    cfg.train_cfg = train_cfg
    ckpt_hook = (cfg.get('default_hooks') or {}).get('checkpoint')
    if ckpt_hook and ckpt_hook.get('interval', 1) > epochs and \
            ckpt_hook.get('by_epoch', True):
        ckpt_hook['interval'] = epochs
