"""Exact resume: the random-number states travel in the checkpoints.

mmengine checkpoints hold the weights, the optimizer, the schedulers and the
message hub, but not the state of the random-number generators. A run
resumed with ``--resume`` is reseeded from ``randomness.seed`` (as at the
start of the first run), so from its first resumed step it draws other
random numbers than the uninterrupted run would (the RoI samplers' shuffles,
random flips and crops): the losses and the final weights differ.

:class:`RNGStateHook` stores the states of python's :mod:`random`, numpy's
global generator, torch's CPU generator and (where CUDA is in use) every
CUDA generator in ``checkpoint['meta']['rng_state']``, and sets them again
when training continues from such a checkpoint. The state is made of plain
python values and tensors only (:func:`get_rng_state`), so the checkpoint
stays loadable with ``torch.load(..., weights_only=True)`` and needs no
allowlist entry of its own.

Enable it in a config with::

    custom_hooks = [dict(type='mmdet_msrcnn.RNGStateHook')]

The data order needs nothing extra: mmengine's ``DefaultSampler`` shuffles
with its own generator seeded with ``seed + epoch``, an epoch-based resume
starts at the saved epoch (``DistSamplerSeedHook`` calls ``set_epoch``),
and an iteration-based resume skips the batches already trained. The hook
also saves the sampler's seed and puts it back if the resumed run drew
another one (``randomness.seed=None``).
"""
import logging
import random
from typing import List, Optional

import numpy as np
import torch
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.runner import EpochBasedTrainLoop, IterBasedTrainLoop

from mmdet_msrcnn.registry import HOOKS

#: Version of the layout written by :func:`get_rng_state`.
RNG_STATE_FORMAT = 1

#: The key of the state in ``checkpoint['meta']``.
META_KEY = 'rng_state'


def _cuda_states() -> List[torch.Tensor]:
    """The states of every CUDA generator, or ``[]`` if CUDA is unused."""
    if not (torch.cuda.is_available() and torch.cuda.is_initialized()):
        return []
    return [state.cpu() for state in torch.cuda.get_rng_state_all()]


def get_rng_state() -> dict:
    """The states of the global random-number generators, weights-only safe.

    Every value is a tensor, a str, an int, a float, a bool, ``None``, a
    list or a dict, which torch's weights-only unpickler rebuilds without
    any allowlist entry.

    Returns:
        dict: ``format`` (int), ``python`` (``version``, ``state`` as an
        int64 tensor of 625 values, ``gauss``), ``numpy`` (``kind``,
        ``key`` as an int64 tensor of 624 values, ``pos``, ``has_gauss``,
        ``cached_gaussian``), ``torch`` (uint8 tensor) and ``cuda`` (list of
        uint8 tensors, one per device; empty when CUDA is not in use).
    """
    py_version, py_state, py_gauss = random.getstate()
    np_kind, np_key, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    return dict(
        format=RNG_STATE_FORMAT,
        python=dict(
            version=int(py_version),
            state=torch.tensor(py_state, dtype=torch.int64),
            gauss=None if py_gauss is None else float(py_gauss)),
        numpy=dict(
            kind=str(np_kind),
            key=torch.from_numpy(np.asarray(np_key, dtype=np.int64)),
            pos=int(np_pos),
            has_gauss=int(np_has_gauss),
            cached_gaussian=float(np_gauss)),
        torch=torch.get_rng_state(),
        cuda=_cuda_states())


def set_rng_state(state: dict) -> None:
    """Set the global random-number generators from :func:`get_rng_state`.

    Tensors may lie on any device (``resume`` maps a checkpoint to the
    training device). CUDA states are set for as many devices as both the
    state and this machine have; a difference in number is logged.

    Args:
        state (dict): As returned by :func:`get_rng_state`.

    Raises:
        ValueError: ``state`` is not of a known format.
    """
    if not isinstance(state, dict):
        raise ValueError(
            f'An RNG state is a dict, got {type(state).__name__}.')
    if state.get('format') != RNG_STATE_FORMAT:
        raise ValueError(
            f'Unknown RNG state format {state.get("format")!r} (known: '
            f'{RNG_STATE_FORMAT}): it was not written by '
            'mmdet_msrcnn.engine.get_rng_state.')
    py = state['python']
    random.setstate(
        (int(py['version']), tuple(int(v) for v in py['state'].cpu().tolist()),
         py['gauss']))
    np_state = state['numpy']
    np.random.set_state(
        (np_state['kind'], np_state['key'].cpu().numpy().astype(np.uint32),
         int(np_state['pos']), int(np_state['has_gauss']),
         float(np_state['cached_gaussian'])))
    torch.set_rng_state(state['torch'].cpu().to(torch.uint8))
    cuda = list(state.get('cuda') or [])
    if not cuda:
        return
    if not torch.cuda.is_available():
        print_log(
            f'The checkpoint holds {len(cuda)} CUDA RNG state(s) but CUDA is '
            'not available: they are not restored.',
            logger='current',
            level=logging.WARNING)
        return
    count = torch.cuda.device_count()
    if count != len(cuda):
        print_log(
            f'The checkpoint holds {len(cuda)} CUDA RNG state(s) for '
            f'{count} visible device(s): the first '
            f'{min(count, len(cuda))} are restored.',
            logger='current',
            level=logging.WARNING)
    for device, cuda_state in enumerate(cuda[:count]):
        torch.cuda.set_rng_state(cuda_state.cpu().to(torch.uint8), device)


def _train_sampler(runner):
    """The train dataloader's sampler that has a ``seed``, or None."""
    loop = getattr(runner, 'train_loop', None)
    loader = getattr(loop, 'dataloader', None)
    batch_sampler = getattr(loader, 'batch_sampler', None)
    for sampler in (getattr(batch_sampler, 'sampler',
                            None), getattr(loader, 'sampler', None)):
        if isinstance(getattr(sampler, 'seed', None), int):
            return sampler
    return None


class _RestoreBeforeBatch:
    """The train loop's dataloader iterator, restoring RNG states on time.

    An iteration-based resume first skips the batches already trained
    (``IterBasedTrainLoop.run`` calls ``next`` ``iter`` times); with
    ``num_workers=0`` their random transforms draw from the global
    generators. The uninterrupted run drew the batch after the checkpoint
    right after saving it, so the states are set just before that batch
    (the ``skip + 1``-th ``next``), after which the loop gets its own
    iterator back.

    Args:
        loop (IterBasedTrainLoop): The loop whose iterator is wrapped.
        iterator: The loop's ``dataloader_iterator``.
        skip (int): Batches the loop skips before training.
        state (dict): From :func:`get_rng_state`.
    """

    def __init__(self, loop, iterator, skip: int, state: dict):
        self._loop = loop
        self._iterator = iterator
        self._skip = skip
        self._state = state

    def __iter__(self):
        return self

    def __next__(self):
        if self._skip > 0:
            self._skip -= 1
        else:
            self._loop.dataloader_iterator = self._iterator
            set_rng_state(self._state)
        return next(self._iterator)

    def __getattr__(self, name):
        return getattr(self._iterator, name)


@HOOKS.register_module()
class RNGStateHook(Hook):
    """Save the RNG states in checkpoints and restore them on resume.

    * ``before_save_checkpoint``: stores :func:`get_rng_state` (plus the
      train sampler's seed and the world size) in
      ``checkpoint['meta']['rng_state']``.
    * ``after_load_checkpoint``: keeps the loaded state; ``before_train``
      sets it only if the train loop continues at the checkpoint's position
      (``resume`` sets the loop's epoch and iteration from the checkpoint,
      ``load_from`` fine-tuning starts at 0 and keeps the fresh seed). An
      epoch-based loop gets the states right away, an iteration-based one
      right before its first new batch (after skipping the trained ones).
    * ``before_val`` / ``after_val``: validation draws random numbers too
      (its dataloader's base seed); the training states are put back after
      it, so a run with validation after a checkpoint continues as its
      resumed copy (which does not repeat that validation). A checkpoint
      saved during validation (``save_best``) stores the training states.

    Limits: exact with ``num_workers=0``. Workers seed their generators at
    start (mmengine's ``worker_init_fn``: ``seed + worker_id``), not from the
    checkpoint: without ``persistent_workers`` they restart with the same
    seeds every epoch in both runs (exact); persistent workers carry their
    states across epochs, which a resumed run cannot restore. mmengine
    restarts an epoch-based loop at the start of the saved epoch, so a
    checkpoint saved inside an epoch resumes inexactly (logged). In
    distributed training only rank 0's states are saved; rank 0 restores
    them, the other ranks keep their seeded states (logged).
    Nondeterministic kernels (CUDA atomics, cuDNN autotuning) differ between
    any two runs.

    Args:
        restore_cuda (bool): Also restore the CUDA generators' states.
            Defaults to True.
    """

    priority = 'LOWEST'

    def __init__(self, restore_cuda: bool = True) -> None:
        self.restore_cuda = restore_cuda
        self._loaded: Optional[dict] = None
        self._train_state: Optional[dict] = None

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        """Store the RNG states in ``checkpoint['meta']['rng_state']``.

        Args:
            runner (Runner): The runner.
            checkpoint (dict): The checkpoint about to be saved.
        """
        state = self._train_state or get_rng_state()
        sampler = _train_sampler(runner)
        state = dict(
            state,
            sampler_seed=None if sampler is None else int(sampler.seed),
            world_size=int(getattr(runner, 'world_size', 1)),
            rank=int(getattr(runner, 'rank', 0)))
        checkpoint.setdefault('meta', {})[META_KEY] = state

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Keep the checkpoint's RNG states and position for
        :meth:`before_train`.

        Args:
            runner (Runner): The runner.
            checkpoint (dict): The loaded checkpoint.
        """
        meta = checkpoint.get('meta') or {}
        self._loaded = dict(
            state=meta.get(META_KEY),
            epoch=meta.get('epoch'),
            iter=meta.get('iter'))

    def before_train(self, runner) -> None:
        """Restore the loaded RNG states if training resumes from them.

        Args:
            runner (Runner): The runner.
        """
        loaded, self._loaded = self._loaded, None
        if loaded is None:
            return
        loop = runner.train_loop
        resumed = (
            loop.iter > 0 and loop.iter == loaded['iter']
            and loop.epoch == loaded['epoch'])
        if not resumed:  # load_from: fine-tuning keeps the fresh seed
            return
        state = loaded['state']
        if state is None:
            print_log(
                'The resumed checkpoint holds no RNG state (it was saved '
                'without RNGStateHook): the random numbers drawn from here '
                'on differ from those of an uninterrupted run.',
                logger='current',
                level=logging.WARNING)
            return
        if self._skip_rank(runner, state):
            return
        if not self.restore_cuda:
            state = dict(state, cuda=[])
        self._restore_sampler_seed(runner, state.get('sampler_seed'))
        if isinstance(loop, EpochBasedTrainLoop):
            self._check_epoch_boundary(loop)
        if isinstance(loop, IterBasedTrainLoop):
            loop.dataloader_iterator = _RestoreBeforeBatch(
                loop, loop.dataloader_iterator, loop.iter, state)
        else:
            set_rng_state(state)

    def before_val(self, runner) -> None:
        """Keep the training RNG states while validation draws its own.

        Args:
            runner (Runner): The runner.
        """
        self._train_state = get_rng_state()

    def after_val(self, runner) -> None:
        """Put the training RNG states back after validation.

        Args:
            runner (Runner): The runner.
        """
        state, self._train_state = self._train_state, None
        if state is not None:
            set_rng_state(state)

    @staticmethod
    def _skip_rank(runner, state: dict) -> bool:
        """Whether this rank keeps its seeded states (distributed runs)."""
        world_size = int(getattr(runner, 'world_size', 1))
        saved_world_size = int(state.get('world_size', 1))
        if world_size == 1 and saved_world_size == 1:
            return False
        rank = int(getattr(runner, 'rank', 0))
        print_log(
            f'RNGStateHook: the checkpoint holds the RNG states of rank 0 '
            f'of {saved_world_size} process(es); this run has {world_size}. ' +
            ('Rank 0 restores them; the other ranks keep their seeded '
             'states, so their random numbers differ from an '
             'uninterrupted run.'
             if rank == 0 else f'Rank {rank} keeps its seeded states.'),
            logger='current',
            level=logging.WARNING)
        return rank != 0

    @staticmethod
    def _restore_sampler_seed(runner, seed: Optional[int]) -> None:
        """Give the train sampler the checkpoint's seed if it drew another."""
        sampler = _train_sampler(runner)
        if seed is None or sampler is None or sampler.seed == seed:
            return
        print_log(
            f'RNGStateHook: the train sampler was seeded with '
            f'{sampler.seed}, the checkpoint with {seed}; the data order '
            'continues with the checkpoint\'s seed.',
            logger='current',
            level=logging.WARNING)
        sampler.seed = int(seed)

    @staticmethod
    def _check_epoch_boundary(loop) -> None:
        """Warn if an epoch-based loop resumes from inside an epoch."""
        try:
            per_epoch = len(loop.dataloader)
        except TypeError:  # a dataloader without a length
            return
        if loop.iter != loop.epoch * per_epoch:
            print_log(
                f'RNGStateHook: the checkpoint was saved inside an epoch '
                f'(iteration {loop.iter}, {per_epoch} per epoch); '
                f'{type(loop).__name__} restarts epoch {loop.epoch + 1} '
                'from its first batch, so the resumed run is not an exact '
                'continuation. Save checkpoints at epoch ends for exact '
                'resumes.',
                logger='current',
                level=logging.WARNING)
