"""The walls between the package's rooms, checked by import.

* :mod:`mmdet_msrcnn.registry` imports nothing of ours (every room may
  import it), and each of its registries names an importable location that
  registers into it.
* The optional ``mmdet_msrcnn.deployment`` (the ``deploy`` extras) stays
  out of the core: ``import mmdet_msrcnn`` loads neither it nor mmdeploy,
  and no other room imports it.
* ``mmdet_msrcnn.models`` never imports ``evaluation`` or ``datasets``; the
  metric (``mmdet_msrcnn.evaluation``) never imports ``models``.
* ``import mmdet_msrcnn`` changes no process-wide state: torch's
  weights-only allowlist stays as it was; only the explicit opt-ins extend
  it.

Each import check runs in a fresh interpreter. Importing
``mmdet_msrcnn.<room>`` normally runs ``mmdet_msrcnn/__init__.py`` first,
which imports every room on purpose (that is what registers our classes),
so the room is imported under a bare stand-in for the package: only what
the room itself imports gets loaded. The import checks see module-level
imports; :func:`test_no_import_across_walls_in_source` also reads the
function-level ones from the source.
"""
import ast
import json
import os
import os.path as osp
import subprocess
import sys
import textwrap

import pytest

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
PACKAGE_DIR = osp.join(REPO_ROOT, 'mmdet_msrcnn')

#: Prelude of the probes: ``import_alone(name)`` imports ``name`` without
#: running the package's ``__init__``, ``ours()`` lists our loaded modules.
PRELUDE = textwrap.dedent(f'''
    import importlib
    import json
    import sys
    import types

    def import_alone(name):
        pkg = types.ModuleType('mmdet_msrcnn')
        pkg.__path__ = [{PACKAGE_DIR!r}]
        pkg.__package__ = 'mmdet_msrcnn'
        sys.modules['mmdet_msrcnn'] = pkg
        return importlib.import_module(name)

    def ours():
        return sorted(m for m in sys.modules
                      if m.startswith('mmdet_msrcnn.'))
    ''')

#: room -> rooms it must never import
WALLS = {
    'mmdet_msrcnn.models':
    ('mmdet_msrcnn.evaluation', 'mmdet_msrcnn.datasets'),
    'mmdet_msrcnn.evaluation': ('mmdet_msrcnn.models', ),
}


def probe(code: str):
    """Run ``PRELUDE + code`` in a fresh interpreter; its last stdout line.

    Args:
        code (str): Python source that prints one json line last.

    Returns:
        The json value of the last line of stdout.
    """
    env = dict(
        os.environ,
        OMP_NUM_THREADS='1',
        PYTHONPATH=os.pathsep.join(
            [REPO_ROOT, os.environ.get('PYTHONPATH', '')]))
    proc = subprocess.run([sys.executable, '-c', PRELUDE + code],
                          cwd=REPO_ROOT,
                          env=env,
                          capture_output=True,
                          text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def inside(module: str, rooms) -> bool:
    """Whether ``module`` is one of ``rooms`` or below one of them."""
    return any(module == room or module.startswith(room + '.')
               for room in rooms)


def test_registry_imports_nothing_of_ours():
    loaded = probe(
        textwrap.dedent('''
        import_alone('mmdet_msrcnn.registry')
        print(json.dumps(ours()))
        '''))
    assert loaded == ['mmdet_msrcnn.registry']


@pytest.mark.parametrize('room', sorted(WALLS))
def test_room_does_not_import_across_its_wall(room):
    loaded = probe(
        textwrap.dedent(f'''
        import_alone({room!r})
        print(json.dumps(ours()))
        '''))
    assert room in loaded  # the probe imported the room itself
    crossed = [m for m in loaded if inside(m, WALLS[room])]
    assert crossed == [], f'{room} imports {crossed}'


def _imported_modules(path: str, module: str):
    """Every module an ``import`` statement in ``path`` names, resolved.

    Args:
        path (str): A source file of the package.
        module (str): Its dotted module name.

    Returns:
        list[tuple[int, str]]: ``(line, imported module)`` pairs; for
        ``from X import a`` both ``X`` and ``X.a`` (``a`` may be a module).
    """
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    is_pkg = osp.basename(path) == '__init__.py'
    package = module if is_pkg else module.rpartition('.')[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split('.')
                base = '.'.join(parts[:len(parts) - node.level + 1])
                target = f'{base}.{node.module}' if node.module else base
            else:
                target = node.module
            found.append((node.lineno, target))
            found += [(node.lineno, f'{target}.{alias.name}')
                      for alias in node.names]
    return found


def _package_modules(room: str):
    """``(path, module)`` of every source file of ``room``."""
    folder = osp.join(REPO_ROOT, *room.split('.'))
    for root, _, files in os.walk(folder):
        for name in sorted(files):
            if not name.endswith('.py'):
                continue
            path = osp.join(root, name)
            rel = osp.relpath(path, REPO_ROOT)[:-len('.py')]
            parts = rel.split(os.sep)
            if parts[-1] == '__init__':
                parts = parts[:-1]
            yield path, '.'.join(parts)


@pytest.mark.parametrize('room', sorted(WALLS) + ['mmdet_msrcnn.registry'])
def test_no_import_across_walls_in_source(room):
    """Function-level imports too (the import probes cannot see them)."""
    if room == 'mmdet_msrcnn.registry':
        files = [(osp.join(PACKAGE_DIR, 'registry.py'), room)]
        forbidden = ('mmdet_msrcnn', )
    else:
        files = list(_package_modules(room))
        forbidden = WALLS[room]
    assert files
    crossed = [
        f'{osp.relpath(path, REPO_ROOT)}:{line} imports {target}'
        for path, module in files
        for line, target in _imported_modules(path, module)
        if inside(target, forbidden)
    ]
    assert crossed == []


#: Loaded only by who asks for it (the optional ``deploy`` extras).
OPTIONAL = ('mmdet_msrcnn.deployment', 'mmdeploy', 'onnx', 'onnxruntime')


def test_package_import_leaves_deployment_out():
    loaded = probe(
        textwrap.dedent('''
        import mmdet_msrcnn
        print(json.dumps(sorted(sys.modules)))
        '''))
    assert 'mmdet_msrcnn.models' in loaded  # the real package was imported
    assert [m for m in loaded if inside(m, OPTIONAL)] == []


def test_no_room_imports_deployment_in_source():
    crossed = [
        f'{osp.relpath(path, REPO_ROOT)}:{line} imports {target}'
        for path, module in _package_modules('mmdet_msrcnn')
        if not inside(module, ('mmdet_msrcnn.deployment', ))
        for line, target in _imported_modules(path, module)
        if inside(target, OPTIONAL)
    ]
    assert crossed == []


def test_every_registry_location_imports_and_registers():
    found = probe(
        textwrap.dedent('''
        from mmengine.registry import Registry
        registry = import_alone('mmdet_msrcnn.registry')
        out = {}
        for name, value in sorted(vars(registry).items()):
            if isinstance(value, Registry) and value.scope == 'mmdet_msrcnn':
                for loc in value._locations:
                    importlib.import_module(loc)  # raises if it does not
                value.import_from_location()  # what a lookup does
                out[name] = dict(locations=list(value._locations),
                                 registered=sorted(value.module_dict))
        print(json.dumps(out))
        '''))
    assert {'MODELS', 'METRICS', 'DATASETS', 'VISUALIZERS'} <= set(found)
    for name, info in found.items():
        assert info['locations'], f'{name} has no locations'
        # the location is where the classes are: importing it registers
        assert info['registered'], \
            f'{name}: importing {info["locations"]} registers nothing'
    assert 'MaskIoUHead' in found['MODELS']['registered']
    assert 'MaskQualityMetric' in found['METRICS']['registered']
    assert 'CheckedCocoDataset' in found['DATASETS']['registered']


#: After importing mmdet (torch allowlists its own DTensor types when
#: ``torch.distributed.tensor`` is first imported, which mmdet's models
#: do), runs ``STEP`` and prints the allowlist entries it added and which
#: of the runner checkpoint types (ours to allowlist) are allowlisted.
SAFE_GLOBALS_PROBE = textwrap.dedent('''
    import torch
    import mmdet.datasets, mmdet.evaluation, mmdet.models, mmdet.utils
    import mmdet.visualization
    get = torch.serialization.get_safe_globals
    before = get()
    STEP
    after = get()
    from mmdet_msrcnn.utils.safe_checkpoint import (
        _history_buffer_getattr, runner_checkpoint_types)
    ours = runner_checkpoint_types() + [
        (_history_buffer_getattr, 'builtins.getattr')]
    print(json.dumps(dict(
        added=sorted(repr(g) for g in after if g not in before),
        runner_types=sorted(repr(g) for g in ours if g in after))))
    ''')


def _safe_globals_after(step: str):
    return probe(SAFE_GLOBALS_PROBE.replace('STEP', step))


@pytest.mark.parametrize('step', [
    'import mmdet_msrcnn',
    'import mmdet_msrcnn.utils',
    'from mmdet.utils import register_all_modules\n'
    'register_all_modules(init_default_scope=False)\n'
    'import mmdet_msrcnn',
])
def test_import_leaves_torch_safe_globals_unchanged(step):
    found = _safe_globals_after(step)
    assert found['added'] == []
    assert found['runner_types'] == []


def test_explicit_opt_in_module_extends_safe_globals():
    """The opt-in works, so the probe above can see a change."""
    found = _safe_globals_after(
        'import mmdet_msrcnn.utils.allow_runner_checkpoints')
    assert any('HistoryBuffer' in g for g in found['added']), found
    assert any('_history_buffer_getattr' in g for g in found['added'])
    assert len(found['runner_types']) >= 10, found


def test_scoped_opt_in_restores_safe_globals():
    import torch

    from mmdet_msrcnn.utils import (allow_runner_checkpoint_types,
                                    runner_checkpoint_types_allowed)
    ser = torch.serialization
    saved = ser.get_safe_globals()
    try:
        ser.clear_safe_globals()
        with runner_checkpoint_types_allowed():
            inside_block = ser.get_safe_globals()
        assert inside_block
        assert ser.get_safe_globals() == []
        # an opt-in made before the block survives it
        allow_runner_checkpoint_types()
        opted_in = set(ser.get_safe_globals())
        with runner_checkpoint_types_allowed():
            pass
        assert set(ser.get_safe_globals()) == opted_in
    finally:
        ser.clear_safe_globals()
        ser.add_safe_globals(saved)
