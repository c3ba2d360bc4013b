"""Interleaved timing, statistics, paired ratios and call counting."""
import gc
import time
import types

import numpy as np
import torch


def sync(device: torch.device) -> None:
    """Wait for the device's queued work (CUDA only)."""
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def bench(fns, repeat, warmup, device, prepare=None):
    """Time callables interleaved, in a rotating order; seconds per run.

    Args:
        fns (dict[str, callable]): What to time, by name.
        repeat (int): Timed runs of each.
        warmup (int): Untimed runs of each first.
        device (torch.device): Synchronised around every run.
        prepare (dict[str, callable], optional): Run, untimed, before each
            run of the callable of the same name.

    Returns:
        tuple[dict, dict]: Seconds per run and the last return value, by
        name.
    """
    times = {name: [] for name in fns}
    last = {}
    names = list(fns)
    for i in range(warmup + repeat):
        # rotate the order: no callable always runs after the same one
        shift = i % len(names)
        for name in names[shift:] + names[:shift]:
            fn = fns[name]
            if prepare and name in prepare:
                prepare[name]()
            gc.collect()
            sync(device)
            start = time.perf_counter()
            last[name] = fn()
            sync(device)
            if i >= warmup:
                times[name].append(time.perf_counter() - start)
    return times, last


def stats(samples, scale: float = 1.0) -> dict:
    """Median, min, max, quartiles and the samples, times ``scale``."""
    arr = np.asarray(samples, dtype=np.float64) * scale
    return dict(
        median=float(np.median(arr)),
        min=float(arr.min()),
        max=float(arr.max()),
        q1=float(np.percentile(arr, 25)),
        q3=float(np.percentile(arr, 75)),
        n=int(arr.size),
        samples=[float(v) for v in arr])


def single_stat(value: float, **extra) -> dict:
    """:func:`stats` of one measured value, with ``extra`` keys added."""
    return dict(
        median=value,
        min=value,
        max=value,
        q1=value,
        q3=value,
        n=1,
        samples=[value],
        **extra)


def half_spread(st: dict) -> float:
    """Half the min-max range relative to the median."""
    return (st['max'] - st['min']) / (2 * st['median']) if st['median'] else 0


def paired_ratio(num: dict, den: dict) -> dict:
    """Median and half range of the per-round ratios ``num / den``.

    The runs are interleaved, so round ``i`` of both ran at about the same
    time: per-round ratios cancel the drift of the machine.

    Args:
        num (dict): :func:`stats` of the numerator.
        den (dict): :func:`stats` of the denominator.

    Returns:
        dict: ``ratio``, ``noise`` and the per-round ``ratios`` (empty when
        the runs cannot be paired; the ratio of the medians then).
    """
    if num['n'] == den['n'] and num['n'] > 1:
        ratios = np.asarray(num['samples']) / np.asarray(den['samples'])
        return dict(
            ratio=float(np.median(ratios)),
            noise=float((ratios.max() - ratios.min()) / 2),
            ratios=[float(r) for r in ratios])
    return dict(
        ratio=num['median'] / den['median'],
        noise=max(half_spread(num), half_spread(den)),
        ratios=[])


class CallCounter:
    """Count the first-argument length of module calls (RoIs per call).

    Args:
        modules (dict[str, nn.Module]): The modules to count, by name.
    """

    def __init__(self, modules):
        self.counts = {name: [] for name in modules}
        self.handles = [
            mod.register_forward_pre_hook(self._hook(name))
            for name, mod in modules.items()
        ]

    def _hook(self, name):

        def hook(module, args):
            self.counts[name].append(int(args[0].shape[0]))

        return hook

    def reset(self) -> None:
        for value in self.counts.values():
            value.clear()

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()


class PhaseTimer:
    """Accumulate wall time of named callables by wrapping them in place.

    Args:
        device (torch.device): Synchronised around every timed call.
    """

    def __init__(self, device):
        self.device = device
        self.totals = {}
        self._undo = []

    def wrap(self, name: str, owner, attr: str) -> None:
        """Time ``owner.attr`` (a module, class or instance attribute)."""
        orig = getattr(owner, attr)
        self.totals.setdefault(name, 0.0)  # report in wrapping order
        own = isinstance(owner, types.ModuleType) or attr in vars(owner)

        def timed(*args, **kwargs):
            sync(self.device)
            start = time.perf_counter()
            try:
                return orig(*args, **kwargs)
            finally:
                sync(self.device)
                self.totals[name] = self.totals.get(
                    name, 0.0) + time.perf_counter() - start

        setattr(owner, attr, timed)
        if own:
            self._undo.append(lambda: setattr(owner, attr, orig))
        else:
            self._undo.append(lambda: delattr(owner, attr))

    def restore(self) -> None:
        """Put back every wrapped attribute, last wrapped first."""
        while self._undo:
            self._undo.pop()()
