"""Load a plain detector checkpoint into its scored counterpart.

A trained mmdet Mask R-CNN (one of ``tools/train.py``'s runner checkpoints,
an mmdet zoo ``.pth``, or a bare state dict) holds every weight of the
scored model except the scorer's. :func:`load_detector_checkpoint` loads
it weights-only (:func:`mmdet_msrcnn.utils.load_checkpoint_safely`) and
non-strictly for the scorer's own keys only:

* a key of the scorer (``roi_head.mask_iou_head.*``, ``mask_scorer.*``)
  missing from the checkpoint keeps its initialization;
* any other missing key, any unexpected key and any shape mismatch is an
  error that names the keys, so a checkpoint of another architecture
  (other classes, depth, channels) never half-loads.

Only the weights are used: the checkpoint's optimizer, schedulers, message
hub and epoch / iteration are ignored (the upgrade is a new training).
"""
import os
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Sequence, Union

import torch
from mmengine.logging import print_log
from torch import nn

from mmdet_msrcnn.utils import load_checkpoint_safely
from .freeze import Prefixes, _under, resolve_trainable, unwrap_model

#: How many keys an error message lists before it counts the rest.
MAX_LISTED_KEYS = 12


class DetectorCheckpointError(ValueError):
    """A checkpoint does not fit the detector part of the scored model."""


@dataclass
class DetectorLoadReport:
    """What :func:`load_detector_checkpoint` loaded.

    Attributes:
        source (str): The file (or ``'<state dict>'``).
        scorer_prefixes (list[str]): The scorer prefixes allowed missing.
        loaded (list[str]): Keys loaded from the checkpoint.
        scorer_initialized (list[str]): Scorer keys absent from the
            checkpoint; they keep the model's initialization.
        scorer_loaded (list[str]): Scorer keys the checkpoint held (a
            checkpoint that already had a scorer); loaded.
        ignored (list[str]): Top-level checkpoint entries not used
            (``optimizer``, ``param_schedulers``, ``message_hub``, ...).
        meta (dict): The checkpoint's ``meta`` (``epoch``, ``iter``, ...),
            for the log only.
    """

    source: str
    scorer_prefixes: List[str]
    loaded: List[str] = field(default_factory=list)
    scorer_initialized: List[str] = field(default_factory=list)
    scorer_loaded: List[str] = field(default_factory=list)
    ignored: List[str] = field(default_factory=list)
    meta: Dict = field(default_factory=dict)

    def __str__(self) -> str:
        where = ''
        if self.meta.get('epoch') is not None or self.meta.get(
                'iter') is not None:
            where = (f' (saved at epoch {self.meta.get("epoch")}, iteration '
                     f'{self.meta.get("iter")})')
        text = (f'loaded {len(self.loaded)} state-dict entries of the '
                f'detector from {self.source}{where}; ')
        if self.scorer_initialized:
            text += (f'{len(self.scorer_initialized)} scorer entries under '
                     f'{", ".join(self.scorer_prefixes)} keep their '
                     'initialization')
        else:
            text += 'the checkpoint held the scorer weights too'
        if self.ignored:
            text += (f'; not used: {", ".join(self.ignored)} (a new '
                     'training, nothing is resumed)')
        return text


def _list_keys(keys: Sequence[str]) -> str:
    keys = sorted(keys)
    shown = ', '.join(keys[:MAX_LISTED_KEYS])
    more = len(keys) - MAX_LISTED_KEYS
    return shown + (f' ... and {more} more' if more > 0 else '')


def _state_dict_of(checkpoint, source: str) -> Mapping[str, torch.Tensor]:
    """The weights of a runner checkpoint, a zoo file or a bare state dict.
    """
    if not isinstance(checkpoint, Mapping):
        raise DetectorCheckpointError(
            f'{source} holds a {type(checkpoint).__name__}, not a '
            'checkpoint dict (with `state_dict`) or a state dict.')
    state_dict = checkpoint.get('state_dict', checkpoint)
    if not isinstance(state_dict, Mapping) or not state_dict:
        raise DetectorCheckpointError(
            f'{source} has no weights: its `state_dict` is empty or not a '
            'dict.')
    bad = [k for k, v in state_dict.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise DetectorCheckpointError(
            f'{source} is not a state dict (nor a checkpoint with '
            f'`state_dict`): these entries are not tensors: {_list_keys(bad)}'
            '.')
    # DistributedDataParallel prefix, as mmengine's loader strips it
    return {
        (k[len('module.'):] if k.startswith('module.') else k): v
        for k, v in state_dict.items()
    }


def load_detector_checkpoint(
        model: nn.Module,
        checkpoint: Union[str, os.PathLike, Mapping],
        scorer_prefixes: Prefixes = None,
        map_location='cpu',
        logger: Optional[str] = 'current') -> DetectorLoadReport:
    """Load a detector's weights into the scored model, scorer excepted.

    Args:
        model (nn.Module): The scored model (wrappers are unwrapped).
        checkpoint (str | PathLike | Mapping): A local checkpoint file
            (loaded with ``torch.load(..., weights_only=True)``; download a
            zoo URL first), or an already loaded checkpoint / state dict.
        scorer_prefixes (str | list[str], optional): The submodules whose
            keys may be missing. Defaults to the model's scorer
            (:func:`~mmdet_msrcnn.engine.freeze.default_scorer_prefixes`).
        map_location: As for :func:`torch.load`. Defaults to ``'cpu'``.
        logger (str, optional): Where :func:`~mmengine.logging.print_log`
            writes the report; ``None`` for silence. Defaults to
            ``'current'``.

    Returns:
        DetectorLoadReport: What was loaded and what kept its
        initialization.

    Raises:
        DetectorCheckpointError: The checkpoint misses a key outside the
            scorer, has a key the model lacks, or a tensor of another
            shape; the message names the keys. Nothing is loaded then.
        RuntimeError: The file needs a Python global that weights-only
            loading refuses (from :func:`load_checkpoint_safely`).
    """
    model = unwrap_model(model)
    prefixes = resolve_trainable(model, scorer_prefixes)
    if isinstance(checkpoint, Mapping):
        source, ckpt = '<state dict>', checkpoint
    else:
        source = os.fspath(checkpoint)
        if '://' in source:
            raise DetectorCheckpointError(
                f'{source}: download the checkpoint first and pass the local '
                'file (it is loaded weights-only with torch.load).')
        ckpt = load_checkpoint_safely(source, map_location=map_location)
    state_dict = _state_dict_of(ckpt, source)
    own = model.state_dict()

    def is_scorer(key):
        return any(_under(key, p) for p in prefixes)

    missing = [k for k in own if k not in state_dict]
    missing_detector = [k for k in missing if not is_scorer(k)]
    unexpected = [k for k in state_dict if k not in own]
    shapes = [
        f'{k} {tuple(v.shape)} in the checkpoint, {tuple(own[k].shape)} in '
        'the model' for k, v in state_dict.items()
        if k in own and v.shape != own[k].shape
    ]
    problems = []
    if missing_detector:
        problems.append(f'{len(missing_detector)} key(s) of the detector '
                        f'missing from the checkpoint: '
                        f'{_list_keys(missing_detector)}')
    if unexpected:
        problems.append(f'{len(unexpected)} unexpected key(s) that the model '
                        f'does not have: {_list_keys(unexpected)}')
    if shapes:
        problems.append(f'{len(shapes)} tensor(s) of another shape: '
                        f'{_list_keys(shapes)}')
    if problems:
        raise DetectorCheckpointError(
            f'{source} does not fit {type(model).__name__} (only the keys '
            f'under {", ".join(prefixes)} may be missing): ' +
            '; '.join(problems) + '. Is it a checkpoint of this config\'s '
            'detector (same backbone, neck, heads, num_classes)? Nothing was '
            'loaded.')
    result = model.load_state_dict(state_dict, strict=False)
    assert not result.unexpected_keys and \
        set(result.missing_keys) == set(missing), result
    meta = ckpt.get('meta') if 'state_dict' in ckpt else None
    report = DetectorLoadReport(
        source=source,
        scorer_prefixes=prefixes,
        loaded=list(state_dict),
        scorer_initialized=missing,
        scorer_loaded=[k for k in state_dict if is_scorer(k)],
        ignored=sorted(k for k in ckpt
                       if k not in ('state_dict',
                                    'meta')) if 'state_dict' in ckpt else [],
        meta=dict(meta) if isinstance(meta, Mapping) else {})
    if logger is not None:
        print_log(f'load_detector_checkpoint: {report}', logger=logger)
    return report
