"""Peak training memory of each detector, in a fresh process per model.

:func:`bench_memory` starts the speed benchmark script once per model with
``--mem-worker NAME``; that process runs :func:`memory_worker` and prints
one ``MEMRESULT {json}`` line.
"""
import gc
import json
import os
import resource
import subprocess
import sys

import torch

from .detectors import TrainStep, build_detectors, detector_cfgs
from .inputs import make_batch
from .rows import IMPLS, make_row
from .timing import single_stat

RESULT_PREFIX = 'MEMRESULT '


def _proc_status_kib(key):
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(key + ':'):
                return int(line.split()[1])
    return None


def _reset_peak_rss() -> bool:
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
        return True
    except OSError:
        return False


def memory_worker(args) -> None:
    """Training memory of one model, in its own process.

    Over the built model and inputs: the peak of two training steps
    (gradients, optimizer state, activations) and what stays resident
    between them (gradients and optimizer state). Prints the result.

    Args:
        args (Namespace): The speed benchmark's arguments; ``mem_worker``
            names the model.
    """
    device = torch.device(args.device)
    name = args.mem_worker
    models, _ = build_detectors(
        detector_cfgs(args.config),
        device,
        args.seed,
        args.cls_scale,
        only=name)
    model = models[name]
    data = make_batch(model, args.train_batch, args.size, args.num_gt,
                      args.seed, True)
    step = TrainStep(model, data, args.seed)
    step.snapshot = None  # no resets here
    model.train()
    gc.collect()

    def one_step():
        torch.manual_seed(args.seed)
        step()

    if device.type == 'cuda':
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        one_step()
        torch.cuda.synchronize(device)
        steady = torch.cuda.memory_allocated(device)
        one_step()
        torch.cuda.synchronize(device)
        peak = torch.cuda.max_memory_allocated(device)
        base, steady, peak = (v / 2**20 for v in (base, steady, peak))
        method = 'CUDA max_memory_allocated'
    elif _reset_peak_rss():
        base = _proc_status_kib('VmRSS') / 1024
        one_step()
        steady = _proc_status_kib('VmRSS') / 1024
        one_step()
        peak = _proc_status_kib('VmHWM') / 1024
        method = 'peak RSS (VmHWM, reset by /proc/self/clear_refs)'
    else:  # pragma: no cover
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        one_step()
        steady = base
        one_step()
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        method = 'ru_maxrss'
    result = dict(
        method=method,
        delta_mib=peak - base,
        steady_mib=steady - base,
        base_mib=base)
    print(RESULT_PREFIX + json.dumps(result), flush=True)


def bench_memory(args, script: str, repo_root: str) -> dict:
    """Run :func:`memory_worker` for the three models, at once.

    Args:
        args (Namespace): The speed benchmark's arguments.
        script (str): The speed benchmark script (takes ``--mem-worker``).
        repo_root (str): Working directory and ``PYTHONPATH`` entry.

    Returns:
        dict[str, dict]: Per model ``method``, ``delta_mib``,
        ``steady_mib`` and ``base_mib``.
    """
    cmd = [sys.executable, script, '--mem-worker']
    common = [
        '--model', args.model, '--device', args.device, '--seed',
        str(args.seed), '--cls-scale',
        str(args.cls_scale), '--size',
        str(args.size[0]),
        str(args.size[1]), '--train-batch',
        str(args.train_batch)
    ]
    if args.smoke:
        common.append('--smoke')
    env = dict(os.environ)
    # a fixed mmap threshold: glibc then returns freed large blocks to the
    # OS at once, so the resident size follows the live tensors
    env.setdefault('MALLOC_MMAP_THRESHOLD_', str(128 * 1024))
    env['PYTHONPATH'] = os.pathsep.join(
        [repo_root] + [p for p in [env.get('PYTHONPATH')] if p])
    procs, out = {}, {}
    for name in IMPLS:
        proc = subprocess.Popen(
            cmd + [name] + common,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=repo_root)
        procs[name] = proc
    # the three at once: each measures its own process's memory only
    for name, proc in procs.items():
        stdout, stderr = proc.communicate()
        lines = [
            ln for ln in stdout.splitlines() if ln.startswith(RESULT_PREFIX)
        ]
        if proc.returncode or not lines:
            raise RuntimeError(f'memory worker {name} failed:\n{stderr}')
        out[name] = json.loads(lines[-1][len(RESULT_PREFIX):])
    return out


def memory_row(mem: dict) -> dict:
    """The ``train_peak_mem`` row of :func:`bench_memory`'s results."""
    return make_row(
        'train_peak_mem', {
            n:
            single_stat(
                v['delta_mib'],
                steady_mib=v['steady_mib'],
                base_mib=v['base_mib'])
            for n, v in mem.items()
        })
