"""Weights-only loading of mmengine runner checkpoints.

torch >= 2.6 unpickles checkpoints with ``weights_only=True``: only tensors,
containers, primitives and allowlisted classes can be rebuilt, so a
checkpoint cannot run code on load. mmengine's runner checkpoints also hold
the message hub's :class:`~mmengine.logging.HistoryBuffer` (with numpy
arrays inside) and numpy scalars in the runtime info; without help they fail
to load with "Weights only load failed".

The allowlist holds exactly those classes (:func:`runner_checkpoint_types`).
The weights-only protection stays on for everything else: a pickle that
calls any other global (e.g. ``os.system``) is still refused. Importing
:mod:`mmdet_msrcnn` does **not** touch torch's process-wide allowlist; a
process opts in explicitly, in one of three ways:

* :func:`runner_checkpoint_types_allowed`: a context manager, the allowlist
  holds the types inside the block only. :func:`load_checkpoint_safely`,
  ``tools/train.py`` and ``tools/test.py`` use it.
* :func:`allow_runner_checkpoint_types`: adds them for the rest of the
  process (your own scripts).
* ``import mmdet_msrcnn.utils.allow_runner_checkpoints`` (the same, as a
  module): for configs, whose ``custom_imports`` name it so that mmdet's own
  scripts (``mim train`` / ``mim test``), ``load_from`` and ``resume`` load
  our checkpoints.

A HistoryBuffer also pickles its statistics methods (``HistoryBuffer.min``
and co.), which protocol 2 writes as ``getattr(HistoryBuffer, 'min')``.
Allowlisting ``builtins.getattr`` itself would hand a pickle every
attribute of every allowlisted object (``__init__.__globals__`` and from
there ``eval``), so that name is bound to :func:`_history_buffer_getattr`,
which returns HistoryBuffer's registered statistics methods and refuses
anything else.
"""
import pickle
from contextlib import contextmanager
from typing import List

import numpy as np
import torch


def runner_checkpoint_types() -> List[object]:
    """The non-tensor globals that mmengine runner checkpoints contain."""
    from mmengine.logging import HistoryBuffer
    try:  # numpy >= 2
        from numpy._core.multiarray import _reconstruct, scalar
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core.multiarray import _reconstruct, scalar
    types = [HistoryBuffer, _reconstruct, scalar, np.ndarray, np.dtype]
    # the dtype classes of the arrays and scalars mmengine stores
    for name in ('float64', 'float32', 'float16', 'int64', 'int32', 'int16',
                 'int8', 'uint8', 'bool_'):
        types.append(type(np.dtype(name)))
    return types


#: The statistics methods every HistoryBuffer registers on creation.
_HISTORY_BUFFER_STATISTICS = ('min', 'max', 'current', 'mean')


def _history_buffer_getattr(obj, name):
    """``getattr`` as unpickled from checkpoints: HistoryBuffer methods only.

    Args:
        obj: Must be :class:`~mmengine.logging.HistoryBuffer`.
        name (str): A statistics method registered on it (``min``, ``max``,
            ``current``, ``mean`` or one added by ``register_statistics``).

    Returns:
        Callable: ``HistoryBuffer.<name>``.

    Raises:
        pickle.UnpicklingError: For any other object or attribute.
    """
    from mmengine.logging import HistoryBuffer
    registered = set(_HISTORY_BUFFER_STATISTICS) | set(
        HistoryBuffer._statistics_methods)
    if (obj is HistoryBuffer and isinstance(name, str)
            and not name.startswith('_') and name in registered
            and callable(vars(HistoryBuffer).get(name))):
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'Weights only load refused getattr({obj!r}, {name!r}): checkpoints '
        'may only reference the statistics methods of mmengine\'s '
        'HistoryBuffer.')


def allow_runner_checkpoint_types() -> None:
    """Allowlist the types of runner checkpoints for the whole process.

    Changes torch's process-wide weights-only allowlist (idempotent). Prefer
    :func:`runner_checkpoint_types_allowed` where the loads happen in one
    block.
    """
    add = getattr(torch.serialization, 'add_safe_globals', None)
    if add is None:  # torch < 2.4 has no weights-only allowlist
        return
    add(runner_checkpoint_types())
    try:  # torch >= 2.5: bind a restricted function to a global's name
        add([(_history_buffer_getattr, 'builtins.getattr')])
    except (TypeError, AttributeError):  # pragma: no cover - older torch
        pass


@contextmanager
def runner_checkpoint_types_allowed():
    """Allowlist the types of runner checkpoints inside the block only.

    On exit the entries that this block added are removed again; entries
    that were allowlisted before it (by an outer block,
    :func:`allow_runner_checkpoint_types` or
    :mod:`mmdet_msrcnn.utils.allow_runner_checkpoints`) stay. torch's own
    ``torch.serialization.safe_globals`` context removes its entries on
    exit even when they were allowlisted before, which would undo such an
    opt-in, so it is not used here.

    Yields:
        None
    """
    ser = torch.serialization
    if not hasattr(ser, 'get_safe_globals'):  # pragma: no cover
        yield  # torch < 2.4 has no weights-only allowlist
        return
    before = ser.get_safe_globals()
    allow_runner_checkpoint_types()
    added = [g for g in ser.get_safe_globals() if g not in before]
    try:
        yield
    finally:
        if added:
            keep = [g for g in ser.get_safe_globals() if g not in added]
            ser.clear_safe_globals()
            ser.add_safe_globals(keep)


@contextmanager
def refuse_unsafe_checkpoint(path: str):
    """Turn torch's weights-only refusal inside the block into a clear one.

    For loads that go through mmengine (``tools/test.py``, ``--resume``,
    ``load_from``): the refusal is raised again as a ``RuntimeError`` that
    names the file and says why; nothing from it was unpickled.

    Args:
        path (str): The checkpoint the block loads (for the message).

    Raises:
        RuntimeError: The checkpoint needs a global that is not allowlisted.
    """
    try:
        yield
    except Exception as err:  # pickle.UnpicklingError and friends
        if 'weights_only' not in str(err) and 'Weights only' not in str(err):
            raise
        raise RuntimeError(
            f'Refused to load {path}: it needs a Python global that is not a '
            'tensor or an allowlisted mmengine/numpy type, so it could run '
            'code on load, and it was not unpickled. Use a checkpoint saved '
            'by mmengine/mmdet_msrcnn, or convert a trusted one with '
            'tools/model_converters/convert_mmdet_ms_rcnn.py. Details: '
            f'{err}') from None


def load_checkpoint_safely(path: str, map_location='cpu'):
    """``torch.load`` with ``weights_only=True`` and a clear refusal.

    The types of runner checkpoints are allowlisted for this load only
    (:func:`runner_checkpoint_types_allowed`).

    Args:
        path (str): Checkpoint file.
        map_location: As for :func:`torch.load`. Defaults to ``'cpu'``.

    Returns:
        dict: The checkpoint.

    Raises:
        RuntimeError: The file needs a global that is not allowlisted
            (a foreign or malicious pickle); nothing from it was executed.
    """
    with runner_checkpoint_types_allowed(), refuse_unsafe_checkpoint(path):
        return torch.load(path, map_location=map_location, weights_only=True)
