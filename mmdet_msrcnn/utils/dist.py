"""Distributed set-up helpers for the tools."""
from mmengine.config import Config


def setup_cpu_distributed(cfg: Config) -> None:
    """Let ``--launcher pytorch`` run on a machine without CUDA (gloo).

    mmengine 0.10's pytorch launcher calls ``torch.cuda.set_device`` and
    wraps the model in DDP with ``device_ids=[LOCAL_RANK]``; both fail on
    CPU-only torch. Start a gloo process group here (mmengine then skips
    its own) and wrap the model without device ids. Does nothing when CUDA
    is available, for other launchers or when a group already exists.
    """
    import torch
    import torch.distributed as dist
    if cfg.get('launcher') != 'pytorch' or torch.cuda.is_available() or \
            dist.is_initialized():
        return
    env_cfg = cfg.setdefault('env_cfg', dict())
    dist_cfg = env_cfg.setdefault('dist_cfg', dict())
    dist_cfg['backend'] = 'gloo'  # nccl needs CUDA
    dist.init_process_group(backend='gloo')
    wrapper = cfg.get('model_wrapper_cfg', None)
    if wrapper is None:
        wrapper = dict(
            type='MMDistributedDataParallel',
            broadcast_buffers=False,
            find_unused_parameters=cfg.get('find_unused_parameters', False))
    if wrapper.get('type', 'MMDistributedDataParallel') in (
            'MMDistributedDataParallel', 'mmengine.MMDistributedDataParallel'):
        wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper
