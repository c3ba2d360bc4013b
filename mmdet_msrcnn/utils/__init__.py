from .safe_checkpoint import (allow_runner_checkpoint_types,
                              load_checkpoint_safely, runner_checkpoint_types)

__all__ = [
    'allow_runner_checkpoint_types', 'load_checkpoint_safely',
    'runner_checkpoint_types'
]
