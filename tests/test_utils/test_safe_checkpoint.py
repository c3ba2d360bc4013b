"""Runner checkpoints load weights-only; malicious ones are refused (7).

The checkpoint is the one of the tiny uninterrupted run (``trained_run``):
it holds the message hub's HistoryBuffers, numpy scalars, the optimizer
and scheduler states.
"""
import os
import os.path as osp
import pickle
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.logging import HistoryBuffer
from mmengine.runner import load_checkpoint

from helpers import REPO_ROOT, build_model, load_tool, tiny_model_cfg
from training_utils import add_test_loop, runner_cfg, without_yapf

from mmdet_msrcnn.utils import load_checkpoint_safely

# one intra-op thread, as every test that runs a training (tests/conftest.py)
pytestmark = pytest.mark.usefixtures('one_thread')


def test_import_keeps_weights_only_on():
    import mmdet_msrcnn  # noqa: F401
    assert 'TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD' not in os.environ
    for folder in ('mmdet_msrcnn', 'tools'):
        for root, _, files in os.walk(osp.join(REPO_ROOT, folder)):
            for name in files:
                if name.endswith(('.py', '.sh')):
                    with open(osp.join(root, name)) as f:
                        text = f.read()
                    assert 'TORCH_FORCE_NO_WEIGHTS_ONLY' not in text, name


def test_runner_checkpoint_loads_weights_only(trained_run):
    ckpt = torch.load(trained_run['checkpoint'], weights_only=True)
    assert {
        'meta', 'state_dict', 'optimizer', 'message_hub', 'param_schedulers'
    } <= set(ckpt)
    scalars = ckpt['message_hub']['log_scalars']
    assert isinstance(scalars['train/loss'], HistoryBuffer)
    assert scalars['train/loss'].current() == pytest.approx(
        trained_run['records'][-1]['loss'], rel=1e-5)
    safe = load_checkpoint_safely(trained_run['checkpoint'])
    assert safe['meta']['iter'] == 4


def test_mmengine_load_checkpoint_into_model(trained_run):
    model = build_model(tiny_model_cfg())
    ckpt = load_checkpoint(
        model, trained_run['checkpoint'], map_location='cpu', strict=True)
    for key, value in model.state_dict().items():
        assert torch.equal(value, ckpt['state_dict'][key]), key


@pytest.fixture
def test_config_file(shapes_root, tmp_path):
    """A test config of the tiny model on the 4 val images."""
    cfg = add_test_loop(runner_cfg(shapes_root, tmp_path), shapes_root)
    assert cfg.test_dataloader.dataset.type == \
        'mmdet_msrcnn.CheckedCocoDataset'
    config_file = str(tmp_path / 'test_cfg.py')
    cfg.dump(config_file)
    return config_file


def run_test_tool(monkeypatch, argv):
    """``tools/test.py`` in this process; returns the runner it built."""
    tool = load_tool('tools/test.py')

    class FastConfig(Config):

        @staticmethod
        def fromfile(*args, **kwargs):
            return without_yapf(Config.fromfile(*args, **kwargs))

    built = {}

    class SpyRunner(tool.Runner):

        @classmethod
        def from_cfg(cls, cfg):
            built['runner'] = super().from_cfg(cfg)
            return built['runner']

    monkeypatch.setattr(tool, 'Config', FastConfig)
    monkeypatch.setattr(tool, 'Runner', SpyRunner)
    monkeypatch.setenv('LOCAL_RANK', '0')
    monkeypatch.setattr(sys, 'argv', ['test.py'] + argv)
    tool.main()
    return built['runner']


def test_tools_test_py_evaluates_checkpoint(trained_run, test_config_file,
                                            tmp_path, monkeypatch):
    """``tools/test.py CONFIG CHECKPOINT`` on the 4 val images."""
    runner = run_test_tool(monkeypatch, [
        test_config_file, trained_run['checkpoint'], '--work-dir',
        str(tmp_path / 'test'), '--cfg-options', 'test_dataloader.batch_size=2'
    ])
    assert runner.cfg.test_dataloader.batch_size == 2
    ckpt = torch.load(trained_run['checkpoint'], weights_only=True)
    state = runner.model.state_dict()
    for key, value in ckpt['state_dict'].items():
        assert torch.equal(state[key], value), key
    metrics = runner.message_hub.get_info('test_metrics', None) or {}
    logged = runner.message_hub.log_scalars
    assert metrics or any('segm_mAP' in k for k in logged)


def test_tools_test_py_refuses_malicious_checkpoint(test_config_file,
                                                    tmp_path, monkeypatch):
    marker = tmp_path / 'pwned'
    path = tmp_path / 'evil.pth'
    save_payload(path, ShellPayload(f'touch {marker}'))
    with pytest.raises(RuntimeError,
                       match=f'Refused to load {path}: .*not unpickled'):
        run_test_tool(monkeypatch, [
            test_config_file, str(path), '--work-dir',
            str(tmp_path / 'test')
        ])
    assert not marker.exists()


# ----------------------------------------------------------------------
# malicious checkpoints
class ShellPayload:
    """Runs a shell command when unpickled by plain pickle."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command, )


class Call:
    """Pickles as ``func(*args)``; args may hold other ``Call`` objects."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args

    def __call__(self, *args):  # pickle wants a callable as reduce func
        raise NotImplementedError


def getattr_escape(marker):
    """Reach ``eval`` through ``getattr`` from an allowlisted class.

    ``HistoryBuffer.__init__.__globals__['__builtins__']['eval']``; this is
    why ``builtins.getattr`` itself must never be allowlisted.
    """
    init = Call(getattr, HistoryBuffer, '__init__')
    module_globals = Call(getattr, init, '__globals__')
    builtins_dict = Call(Call(getattr, module_globals, 'get'), '__builtins__')
    evil = Call(Call(getattr, builtins_dict, 'get'), 'eval')
    return Call(evil, f"open({str(marker)!r}, 'w').write('pwned')")


def history_buffer_escape(marker):
    """The same through an allowed ``getattr(HistoryBuffer, 'min')``."""
    method = Call(getattr, HistoryBuffer, 'min')
    module_globals = Call(getattr, method, '__globals__')
    builtins_dict = Call(Call(getattr, module_globals, 'get'), '__builtins__')
    evil = Call(Call(getattr, builtins_dict, 'get'), 'eval')
    return Call(evil, f"open({str(marker)!r}, 'w').write('pwned')")


def save_payload(path, payload):
    """A checkpoint-looking file with ``payload`` in its meta."""
    torch.save(
        dict(meta=dict(payload=payload), state_dict=dict(w=torch.zeros(2))),
        str(path))


PAYLOADS = {
    'os.system': lambda marker: ShellPayload(f'touch {marker}'),
    'getattr escape': getattr_escape,
    'allowed getattr escape': history_buffer_escape,
}


@pytest.mark.parametrize('kind', sorted(PAYLOADS))
def test_malicious_checkpoint_is_refused(kind, tmp_path):
    marker = tmp_path / 'pwned'
    path = tmp_path / 'evil.pth'
    save_payload(path, PAYLOADS[kind](marker))

    with pytest.raises(RuntimeError, match='Refused to load') as info:
        load_checkpoint_safely(str(path))
    assert 'was not unpickled' in str(info.value)
    assert not marker.exists()

    # mmengine's loader (tools/test.py, --resume, load_from) refuses too
    model = torch.nn.Linear(2, 2)
    with pytest.raises(pickle.UnpicklingError, match='Weights only load'):
        load_checkpoint(model, str(path), map_location='cpu')
    assert not marker.exists()

    # the payload is live: plain pickle would have run it
    control = tmp_path / 'control'
    save_payload(path, PAYLOADS[kind](control))
    torch.load(str(path), weights_only=False)
    assert control.exists()
    assert not marker.exists()
