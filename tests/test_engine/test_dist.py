"""Two-process CPU (gloo) training with tools/dist_train.sh (bullet 6).

``tools/dist_train.sh CONFIG 2 --work-dir DIR`` with ``PYTHON`` set to this
interpreter runs ``torch.distributed.run`` -> ``tools/train.py --launcher
pytorch``, which on a machine without CUDA starts a gloo process group and
wraps the model in DDP without device ids. Each rank dumps its parameters
after the run; both must be identical (gradients are all-reduced; the ranks
see different images), and only rank 0 may save checkpoints.
"""
import os
import os.path as osp
import socket
import subprocess
import sys
import textwrap
import time

import pytest
import torch

from helpers import REPO_ROOT
from training_utils import runner_cfg, without_yapf

# one intra-op thread, as every test that runs a training (tests/conftest.py)
pytestmark = pytest.mark.usefixtures('one_thread')

DUMP_HOOK = textwrap.dedent('''
    import os

    import torch
    from mmengine.dist import get_rank, get_world_size
    from mmengine.hooks import Hook
    from mmengine.registry import HOOKS


    @HOOKS.register_module()
    class RankDumpHook(Hook):
        """Record which rank saves checkpoints; dump each rank's weights."""

        def before_save_checkpoint(self, runner, checkpoint):
            name = f'saved_by_rank{get_rank()}'
            open(os.path.join(runner.work_dir, name), 'a').close()

        def after_run(self, runner):
            model = getattr(runner.model, 'module', runner.model)
            torch.save(
                dict(
                    rank=get_rank(),
                    world_size=get_world_size(),
                    wrapper=type(runner.model).__name__,
                    iter=runner.iter,
                    params={
                        k: v.detach().clone()
                        for k, v in model.named_parameters()
                    }),
                os.path.join(runner.work_dir,
                             f'params_rank{get_rank()}.pt'))
''')


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


@pytest.mark.dist
def test_two_cpu_ranks_train_in_sync(shapes_root, tmp_path):
    (tmp_path / 'rank_dump_hook.py').write_text(DUMP_HOOK)
    work_dir = tmp_path / 'work'
    cfg = without_yapf(
        runner_cfg(
            shapes_root, work_dir, max_iters=2, ckpt_interval=2, batch_size=1))
    cfg.custom_imports = dict(
        imports=['mmdet_msrcnn', 'rank_dump_hook'], allow_failed_imports=False)
    cfg.custom_hooks = [dict(type='RankDumpHook')]
    cfg.work_dir = None  # from --work-dir
    config_file = tmp_path / 'dist_cfg.py'
    cfg.dump(str(config_file))

    env = dict(
        os.environ,
        PYTHON=sys.executable,
        PORT=str(free_port()),
        PYTHONPATH=os.pathsep.join(
            [str(tmp_path), os.environ.get('PYTHONPATH', '')]),
        OMP_NUM_THREADS='1')
    env.pop('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', None)
    start = time.time()
    proc = subprocess.run([
        'bash',
        osp.join(REPO_ROOT, 'tools', 'dist_train.sh'),
        str(config_file), '2', '--work-dir',
        str(work_dir)
    ],
                          cwd=str(tmp_path),
                          env=env,
                          capture_output=True,
                          text=True,
                          timeout=240)
    elapsed = time.time() - start
    assert proc.returncode == 0, (proc.stdout[-3000:], proc.stderr[-5000:])
    print(f'2-rank CPU training took {elapsed:.1f} s')

    dumps = [
        torch.load(work_dir / f'params_rank{r}.pt', weights_only=True)
        for r in (0, 1)
    ]
    for rank, dump in enumerate(dumps):
        assert dump['rank'] == rank and dump['world_size'] == 2
        assert dump['wrapper'] == 'MMDistributedDataParallel'
        assert dump['iter'] == 2
    params0, params1 = dumps[0]['params'], dumps[1]['params']
    assert params0.keys() == params1.keys()
    assert any('mask_iou_head' in k for k in params0)
    for key in params0:
        assert torch.equal(params0[key], params1[key]), key

    # only rank 0 saved, and what it saved is the trained weights
    assert (work_dir / 'saved_by_rank0').exists()
    assert not (work_dir / 'saved_by_rank1').exists()
    ckpts = sorted(p for p in os.listdir(work_dir) if p.endswith('.pth'))
    assert ckpts == ['iter_2.pth']
    state = torch.load(work_dir / 'iter_2.pth', weights_only=True)
    for key, value in params0.items():
        assert torch.equal(state['state_dict'][key], value), key
