"""Freeze a trained detector and train only its scorer.

Two named pieces, no patching:

* :func:`freeze_detector` sets ``requires_grad=False`` on every parameter
  outside the trainable submodules (given by name prefixes, e.g.
  ``roi_head.mask_iou_head`` or ``mask_scorer``) and ``True`` inside them.
* :func:`frozen_modules` / :func:`set_frozen_eval` put the frozen submodules
  in eval mode (BatchNorm uses and keeps its running statistics, dropout is
  off), leaving the trainable ones and their containers in training mode.

``requires_grad=False`` alone does not stop BatchNorm from updating its
running statistics, and mmengine's train loops call ``model.train()`` at
the start of every epoch (``EpochBasedTrainLoop.run_epoch``: the
``before_train_epoch`` hooks first, then ``model.train()``) or before every
iteration (``IterBasedTrainLoop.run``), so a hook that wants the frozen
modules in eval mode must set it after that call: in ``before_train_iter``
(:class:`~mmdet_msrcnn.engine.hooks.FreezeDetectorHook`).
"""
import difflib
from dataclasses import dataclass, field
from typing import List, Sequence, Tuple, Union

from mmengine.model import is_model_wrapper
from torch import nn

Prefixes = Union[str, Sequence[str], None]


@dataclass
class FreezeSummary:
    """What :func:`freeze_detector` froze.

    Attributes:
        trainable_prefixes (list[str]): The prefixes that stay trainable.
        trainable (list[str]): Names of the trainable parameter tensors.
        frozen (list[str]): Names of the frozen parameter tensors.
        num_trainable_params (int): Trainable parameter elements.
        num_frozen_params (int): Frozen parameter elements.
    """

    trainable_prefixes: List[str]
    trainable: List[str] = field(default_factory=list)
    frozen: List[str] = field(default_factory=list)
    num_trainable_params: int = 0
    num_frozen_params: int = 0

    def __str__(self) -> str:
        return (f'trainable: {", ".join(self.trainable_prefixes)} '
                f'({len(self.trainable)} tensors, '
                f'{self.num_trainable_params:,} parameters); frozen: '
                f'{len(self.frozen)} tensors, '
                f'{self.num_frozen_params:,} parameters')


def unwrap_model(model: nn.Module) -> nn.Module:
    """The model inside an mmengine / DDP wrapper (or the model itself)."""
    return model.module if is_model_wrapper(model) else model


def _normalize(prefixes: Prefixes) -> List[str]:
    if isinstance(prefixes, str):
        prefixes = [prefixes]
    out = []
    for prefix in prefixes:
        if not isinstance(prefix, str) or not prefix.strip('.'):
            raise ValueError(
                f'trainable prefixes are non-empty module names such as '
                f"'roi_head.mask_iou_head', got {prefix!r}.")
        prefix = prefix.strip('.')
        if prefix not in out:
            out.append(prefix)
    return out


def _under(name: str, prefix: str) -> bool:
    """Whether the dotted ``name`` is ``prefix`` or lies inside it."""
    return name == prefix or name.startswith(prefix + '.')


def _has_parameters(model: nn.Module, prefix: str) -> bool:
    return any(_under(n, prefix) for n, _ in model.named_parameters())


def default_scorer_prefixes(model: nn.Module) -> List[str]:
    """The scorer submodules of a detector, as trainable prefixes.

    ``roi_head.mask_iou_head`` (our mask scoring RoI heads, one head or a
    cascade's list of them, and mmdet's own ``MaskScoringRoIHead``) and
    ``mask_scorer`` (single-stage hosts), where they hold parameters.

    Args:
        model (nn.Module): The detector (wrappers are unwrapped).

    Returns:
        list[str]: At least one prefix.

    Raises:
        ValueError: The model has no scorer with parameters.
    """
    model = unwrap_model(model)
    candidates = []
    roi_head = getattr(model, 'roi_head', None)
    if isinstance(getattr(roi_head, 'mask_iou_head', None), nn.Module):
        candidates.append('roi_head.mask_iou_head')
    if isinstance(getattr(model, 'mask_scorer', None), nn.Module):
        candidates.append('mask_scorer')
    prefixes = [p for p in candidates if _has_parameters(model, p)]
    if not prefixes:
        raise ValueError(
            f'{type(model).__name__} has no scorer to train: no '
            '`roi_head.mask_iou_head` (a learned MaskIoU head; '
            "mask_score_source='maskness' builds none) and no "
            '`mask_scorer` with parameters. Use a config with a scorer '
            '(e.g. configs/upgrade/ms-rcnn_r18_fpn_shapes_frozen-upgrade.py)'
            ' or name the trainable submodules with `trainable=`.')
    return prefixes


def _no_match_error(model: nn.Module, prefix: str) -> ValueError:
    modules = [n for n, _ in model.named_modules() if n]
    close = difflib.get_close_matches(prefix, modules, n=3, cutoff=0.6)
    hint = (f' Did you mean {", ".join(repr(c) for c in close)}?'
            if close else '')
    return ValueError(
        f'trainable prefix {prefix!r} matches no parameter of '
        f'{type(model).__name__}: nothing would be trained under it.'
        f'{hint} Prefixes are dotted module names as in '
        "model.named_parameters(), e.g. 'roi_head.mask_iou_head'.")


def resolve_trainable(model: nn.Module,
                      trainable: Prefixes = None) -> List[str]:
    """Check the trainable prefixes (``None``: the model's scorer).

    Args:
        model (nn.Module): The detector (wrappers are unwrapped).
        trainable (str | list[str], optional): Name prefixes. Defaults to
            :func:`default_scorer_prefixes`.

    Returns:
        list[str]: The prefixes, without duplicates or trailing dots.

    Raises:
        ValueError: A prefix matches no parameter, or (default) the model
            has no scorer.
    """
    model = unwrap_model(model)
    prefixes = (
        default_scorer_prefixes(model)
        if trainable is None else _normalize(trainable))
    for prefix in prefixes:
        if not _has_parameters(model, prefix):
            raise _no_match_error(model, prefix)
    return prefixes


def freeze_detector(model: nn.Module,
                    trainable: Prefixes = None) -> FreezeSummary:
    """Freeze every parameter outside the trainable submodules.

    Sets ``requires_grad=False`` outside and ``True`` inside the
    submodules named by ``trainable``. The modes (train / eval) are left
    as they are: see :func:`set_frozen_eval`.

    Args:
        model (nn.Module): The detector (wrappers are unwrapped).
        trainable (str | list[str], optional): Dotted name prefixes of the
            submodules (or parameters) to keep trainable, e.g.
            ``('roi_head.mask_iou_head', )``. Defaults to the model's
            scorer (:func:`default_scorer_prefixes`).

    Returns:
        FreezeSummary: The names and counts of the trainable and frozen
        parameters.

    Raises:
        ValueError: A prefix matches no parameter (the message names it),
            or ``trainable`` is None and the model has no scorer.
    """
    model = unwrap_model(model)
    prefixes = resolve_trainable(model, trainable)
    summary = FreezeSummary(trainable_prefixes=prefixes)
    for name, param in model.named_parameters():
        keep = any(_under(name, p) for p in prefixes)
        param.requires_grad_(keep)
        if keep:
            summary.trainable.append(name)
            summary.num_trainable_params += param.numel()
        else:
            summary.frozen.append(name)
            summary.num_frozen_params += param.numel()
    return summary


def frozen_modules(model: nn.Module,
                   trainable: Sequence[str]) -> List[Tuple[str, nn.Module]]:
    """The largest submodules that hold nothing trainable.

    A module is listed when it neither lies inside a trainable prefix nor
    contains one; its children are then not listed separately. The
    containers of the trainable modules (the model, ``roi_head``) are not
    listed: they stay in training mode, and their frozen children are.

    Args:
        model (nn.Module): The detector (wrappers are unwrapped).
        trainable (list[str]): Checked prefixes
            (:func:`resolve_trainable`).

    Returns:
        list[tuple[str, nn.Module]]: ``(name, module)`` pairs.
    """
    model = unwrap_model(model)
    prefixes = _normalize(trainable)
    out = []

    def visit(prefix: str, module: nn.Module) -> None:
        for name, child in module.named_children():
            full = f'{prefix}.{name}' if prefix else name
            if any(_under(full, p) for p in prefixes):
                continue  # trainable: keeps the loop's mode
            if any(_under(p, full) for p in prefixes):
                visit(full, child)  # a container of a trainable module
            else:
                out.append((full, child))

    visit('', model)
    return out


def set_frozen_eval(model: nn.Module, trainable: Sequence[str]) -> List[str]:
    """Put the frozen submodules in eval mode (see :func:`frozen_modules`).

    Args:
        model (nn.Module): The detector (wrappers are unwrapped).
        trainable (list[str]): Checked prefixes.

    Returns:
        list[str]: Names of the modules set to eval mode.
    """
    names = []
    for name, module in frozen_modules(model, trainable):
        module.eval()
        names.append(name)
    return names
