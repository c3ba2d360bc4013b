"""Convert checkpoints of mmdet's built-in Mask Scoring R-CNN to ours.

mmdet's ``MaskScoringRCNN`` is a two-stage detector whose RoI head holds a
``MaskIoUHead`` with the modules ``convs`` (3x3 convolutions, the last with
stride 2), ``fcs`` (hidden fully connected layers) and ``fc_mask_iou`` (one
output per class). Ours (:class:`~mmdet_msrcnn.models.MaskIoUHead` in
:class:`~mmdet_msrcnn.models.MaskScoringRoIHead`, in a plain ``MaskRCNN``)
names its parameters the same way, under the same ``roi_head.mask_iou_head``
prefix, and the rest of the detector is mmdet's Mask R-CNN in both. So the
weights carry over unchanged; what the conversion does is

* check that the MaskIoU keys are exactly those of such a head (contiguous
  ``convs.N`` / ``fcs.N``, weight and bias each, ``fc_mask_iou``), and, when
  the keys of the target model are given, that nothing is missing or left
  over, with an error that lists the offending MaskIoU keys;
* strip a ``module.`` (DistributedDataParallel) prefix;
* keep only the state dict and the plain-data part of ``meta``, so the
  result loads with ``torch.load(..., weights_only=True)``.

The one behavioural difference is the MaskIoU head's mask input: mmdet's
head takes mask *logits* and applies the sigmoid itself, ours takes
probabilities. The mixin feeds probabilities, so converted weights give the
same MaskIoU predictions. mmdet then writes ``cls_score * IoU`` (unclamped)
into ``scores``; ours keeps ``scores`` and adds ``mask_ious`` (clamped to
[0, 1]) and ``mask_scores`` (``scores * mask_ious``), or writes
``mask_scores`` into ``scores`` with ``mask_score_as_score=True``.
"""
import re
from collections import OrderedDict
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple

import numpy as np
import torch

MASK_IOU_PREFIX = 'roi_head.mask_iou_head.'
_DDP_PREFIX = 'module.'
_LAYER_KEY = re.compile(r'^(convs|fcs)\.(\d+)\.(weight|bias)$')
_OUTPUT_KEYS = ('fc_mask_iou.weight', 'fc_mask_iou.bias')


class CheckpointConversionError(ValueError):
    """A checkpoint is not one of mmdet's Mask Scoring R-CNN."""


def mask_iou_head_keys(num_convs: int, num_fcs: int) -> List[str]:
    """State-dict keys (relative to the head) of a MaskIoU head.

    Args:
        num_convs (int): Number of 3x3 convolutions.
        num_fcs (int): Number of hidden fully connected layers.

    Returns:
        list[str]: ``convs.N.weight``, ``convs.N.bias``, ..., ``fcs.N.*``,
        ``fc_mask_iou.weight``, ``fc_mask_iou.bias``.
    """
    keys = []
    for name, num in (('convs', num_convs), ('fcs', num_fcs)):
        for i in range(num):
            keys += [f'{name}.{i}.weight', f'{name}.{i}.bias']
    return keys + list(_OUTPUT_KEYS)


def _check_mask_iou_keys(head_keys: Iterable[str]) -> Tuple[int, int]:
    """Validate the MaskIoU keys; return ``(num_convs, num_fcs)``."""
    head_keys = set(head_keys)
    unexpected = sorted(
        k for k in head_keys
        if not _LAYER_KEY.match(k) and k not in _OUTPUT_KEYS)
    counts = {'convs': 0, 'fcs': 0}
    for key in head_keys:
        match = _LAYER_KEY.match(key)
        if match:
            name, idx = match.group(1), int(match.group(2))
            counts[name] = max(counts[name], idx + 1)
    expected = set(mask_iou_head_keys(counts['convs'], counts['fcs']))
    missing = sorted(expected - head_keys)
    if counts['convs'] == 0:
        missing.insert(0, 'convs.0.weight')
    if unexpected or missing:
        raise CheckpointConversionError(
            'The MaskIoU head weights do not match a MaskIoUHead '
            f"(convs.N, fcs.N, fc_mask_iou under '{MASK_IOU_PREFIX}'). "
            f'Unexpected MaskIoU keys: {_prefixed(unexpected)}; missing '
            f'MaskIoU keys: {_prefixed(missing)}.')
    return counts['convs'], counts['fcs']


def _prefixed(keys: Iterable[str]) -> List[str]:
    return [MASK_IOU_PREFIX + k for k in keys]


def _check_shapes(state_dict: Mapping[str, torch.Tensor], num_convs: int,
                  num_fcs: int) -> None:
    """The MaskIoU layers chain up and match the classifier's classes."""
    p = MASK_IOU_PREFIX
    problems = []
    first = state_dict[p + 'convs.0.weight']
    if first.dim() != 4 or tuple(first.shape[-2:]) != (3, 3):
        problems.append(f'{p}convs.0.weight has shape {tuple(first.shape)}, '
                        'expected (C_out, C_in + 1, 3, 3)')
    for i in range(1, num_convs):
        prev = state_dict[f'{p}convs.{i - 1}.weight'].shape[0]
        cur = state_dict[f'{p}convs.{i}.weight'].shape[1]
        if cur != prev:
            problems.append(f'{p}convs.{i}.weight takes {cur} channels but '
                            f'convs.{i - 1} gives {prev}')
    fc_keys = [f'{p}fcs.{i}.weight' for i in range(num_fcs)]
    fc_keys.append(p + 'fc_mask_iou.weight')
    for prev_key, key in zip(fc_keys, fc_keys[1:]):
        prev = state_dict[prev_key].shape[0]
        cur = state_dict[key].shape[1]
        if cur != prev:
            problems.append(f'{key} takes {cur} inputs but {prev_key} gives '
                            f'{prev}')
    num_classes = state_dict[p + 'fc_mask_iou.weight'].shape[0]
    cls_keys = [
        k for k in state_dict
        if k.startswith('roi_head.bbox_head') and k.endswith('fc_cls.weight')
    ]
    for key in cls_keys:  # softmax classifiers have num_classes + 1 rows
        if state_dict[key].shape[0] not in (num_classes, num_classes + 1):
            problems.append(f'{p}fc_mask_iou has {num_classes} classes but '
                            f'{key} has {state_dict[key].shape[0]} outputs')
    if problems:
        raise CheckpointConversionError('Inconsistent MaskIoU head weights: ' +
                                        '; '.join(problems) + '.')


def convert_mmdet_ms_rcnn_state_dict(
    state_dict: Mapping[str, torch.Tensor],
    expected_keys: Optional[Iterable[str]] = None
) -> 'OrderedDict[str, torch.Tensor]':
    """Map an mmdet ``MaskScoringRCNN`` state dict to our model's.

    Args:
        state_dict (Mapping[str, Tensor]): The mmdet detector's weights.
        expected_keys (Iterable[str], optional): The state-dict keys of the
            target model (e.g. ``model.state_dict().keys()`` of a model
            built from one of our configs). When given, any key missing or
            left over is an error, as for a strict load.

    Returns:
        OrderedDict[str, Tensor]: Our model's weights (the same tensors
        under the same names, DDP prefix removed).

    Raises:
        CheckpointConversionError: The MaskIoU keys are not those of a
            MaskIoU head, the layer shapes do not chain up, the layout is
            mmdet 1.x's, or the keys differ from ``expected_keys``.
    """
    converted = OrderedDict()
    for key, value in state_dict.items():
        if key.startswith(_DDP_PREFIX):
            key = key[len(_DDP_PREFIX):]
        if not isinstance(value, torch.Tensor):
            raise CheckpointConversionError(
                f'state_dict[{key!r}] is a {type(value).__name__}, not a '
                'tensor.')
        converted[key] = value
    head_keys = [
        k[len(MASK_IOU_PREFIX):] for k in converted
        if k.startswith(MASK_IOU_PREFIX)
    ]
    if not head_keys:
        if any(k.startswith('mask_iou_head.') for k in converted):
            raise CheckpointConversionError(
                "The checkpoint has 'mask_iou_head.*' keys without the "
                "'roi_head.' prefix: an mmdet 1.x layout. Upgrade it with "
                "mmdet 2.x's tools/model_converters/upgrade_model_version.py "
                'first.')
        raise CheckpointConversionError(
            f"The checkpoint has no '{MASK_IOU_PREFIX}*' keys: it is not a "
            'Mask Scoring R-CNN checkpoint (a plain Mask R-CNN one loads as '
            'is, with a freshly initialised MaskIoU head).')
    num_convs, num_fcs = _check_mask_iou_keys(head_keys)
    _check_shapes(converted, num_convs, num_fcs)
    if expected_keys is not None:
        expected = set(expected_keys)
        missing = sorted(expected - set(converted))
        unexpected = sorted(set(converted) - expected)
        if missing or unexpected:
            iou_missing = [k for k in missing if k.startswith(MASK_IOU_PREFIX)]
            iou_unexpected = [
                k for k in unexpected if k.startswith(MASK_IOU_PREFIX)
            ]
            raise CheckpointConversionError(
                'The converted weights do not match the target model. '
                f'Unexpected MaskIoU keys: {iou_unexpected}; missing MaskIoU '
                f'keys: {iou_missing}; other unexpected keys: '
                f'{_head(set(unexpected) - set(iou_unexpected))}; other '
                f'missing keys: {_head(set(missing) - set(iou_missing))}. '
                'Check that the config matches the checkpoint (num_convs, '
                'num_fcs, channels, num_classes).')
    return converted


def _head(keys: Iterable[str], num: int = 10) -> List[str]:
    keys = sorted(keys)
    return keys[:num] + ([f'... {len(keys) - num} more']
                         if len(keys) > num else [])


def plain_meta(meta: Any) -> Tuple[Dict[str, Any], List[str]]:
    """The plain-data part of a checkpoint's ``meta``.

    Keeps ``str``, ``int``, ``float``, ``bool`` and ``None`` values and
    dicts, lists and tuples of them; numpy scalars become Python numbers
    and small numpy arrays lists. Anything else is dropped.

    Args:
        meta: ``checkpoint['meta']`` (anything; a non-dict gives ``{}``).

    Returns:
        tuple[dict, list[str]]: The plain meta and the dotted names of the
        dropped entries.
    """
    dropped: List[str] = []
    skip = object()

    def clean(value, name):
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        if isinstance(value, np.generic):
            return value.item()
        if isinstance(value, np.ndarray) and value.size <= 1024:
            return value.tolist()
        if isinstance(value, (list, tuple)):
            out = [clean(v, f'{name}[{i}]') for i, v in enumerate(value)]
            out = [v for v in out if v is not skip]
            return tuple(out) if isinstance(value, tuple) else out
        if isinstance(value, dict):
            out = {}
            for k, v in value.items():
                key_name = f'{name}.{k}' if name else str(k)
                if not isinstance(k, (str, int, float, bool)):
                    dropped.append(f'{name}.<{type(k).__name__} key>')
                    continue
                v = clean(v, key_name)
                if v is not skip:
                    out[k] = v
            return out
        dropped.append(f'{name} ({type(value).__name__})')
        return skip

    if not isinstance(meta, dict):
        return {}, ([] if meta is None else ['meta'])
    return clean(meta, ''), dropped


def load_trusted_or_safe(path: str, trust_pickle: bool = False) -> dict:
    """Load a checkpoint, weights-only unless the user trusts the file.

    Args:
        path (str): Checkpoint file.
        trust_pickle (bool): Fall back to a full unpickle when the
            weights-only load refuses the file (only for files from a
            trusted source: unpickling can run code). Defaults to False.

    Returns:
        dict: The checkpoint.
    """
    from .safe_checkpoint import load_checkpoint_safely
    try:
        return load_checkpoint_safely(path)
    except RuntimeError:
        if not trust_pickle:
            raise
        return torch.load(path, map_location='cpu', weights_only=False)


def convert_mmdet_ms_rcnn_checkpoint(
        src: str,
        dst: str,
        expected_keys: Optional[Iterable[str]] = None,
        trust_pickle: bool = False) -> Dict[str, Any]:
    """Convert an mmdet ``MaskScoringRCNN`` checkpoint file to ours.

    Args:
        src (str): Checkpoint trained with one of mmdet's ``ms_rcnn``
            configs (a dict with ``state_dict``, or a bare state dict).
        dst (str): Output file: ``{'state_dict': ..., 'meta': ...}`` only,
            loadable with ``torch.load(dst, weights_only=True)``.
        expected_keys (Iterable[str], optional): Keys of the target model,
            for a strict check (see
            :func:`convert_mmdet_ms_rcnn_state_dict`).
        trust_pickle (bool): Allow a full unpickle of ``src`` when the
            weights-only load refuses it. Defaults to False.

    Returns:
        dict: What was written: ``state_dict`` and ``meta`` (whose
        ``converted_from`` says where it came from and ``dropped_meta``
        lists the meta entries that were not plain data).
    """
    checkpoint = load_trusted_or_safe(src, trust_pickle)
    if not isinstance(checkpoint, dict):
        raise CheckpointConversionError(
            f'{src} holds a {type(checkpoint).__name__}, not a checkpoint '
            'dict.')
    state_dict = checkpoint.get('state_dict', checkpoint)
    state_dict = convert_mmdet_ms_rcnn_state_dict(state_dict, expected_keys)
    meta, dropped = plain_meta(checkpoint.get('meta'))
    meta['converted_from'] = 'mmdet MaskScoringRCNN'
    if dropped:
        meta['dropped_meta'] = dropped
    out = dict(state_dict=state_dict, meta=meta)
    torch.save(out, dst)
    # the whole point: it loads without unpickling any code
    torch.load(dst, map_location='cpu', weights_only=True)
    return out
