"""Opt in: allowlist the types of mmengine runner checkpoints on import.

Importing this module calls
:func:`mmdet_msrcnn.utils.allow_runner_checkpoint_types`, which adds the
message hub's ``HistoryBuffer``, the numpy array/scalar types and a
restricted ``getattr`` to torch's process-wide weights-only allowlist (see
:mod:`mmdet_msrcnn.utils.safe_checkpoint`). ``import mmdet_msrcnn`` does not
do this; a config opts in by naming this module in ``custom_imports``::

    custom_imports = dict(
        imports=[
            'mmdet_msrcnn', 'mmdet_msrcnn.utils.allow_runner_checkpoints'
        ],
        allow_failed_imports=False)

so that every process that loads the config (``mim train`` / ``mim test``,
mmdet's ``tools/train.py`` and ``tools/test.py``, ``init_detector``,
``load_from`` and ``resume``) loads our runner checkpoints weights-only.
Nothing else is allowlisted: a pickle that calls any other global is still
refused.
"""
from .safe_checkpoint import allow_runner_checkpoint_types

allow_runner_checkpoint_types()
