"""Training benchmark runs through ``tools/demo.py`` (seeds, subsets).

Configs are trained and evaluated through ``tools/demo.py``'s
``build_cfg`` / ``run_one`` (mmengine's Runner, CocoMetric and
MaskQualityMetric, mask-quality plots), so every benchmark number comes
from the same path as the demo's. The tools load that script with
:func:`load_script` and pass it as ``demo``. This module adds data subsets
for smoke runs, a short timing probe, per-config metrics json and the
seed loop.
"""
import glob
import importlib.util
import json
import math
import os.path as osp
import time

import numpy as np

from .results import load_json, save_json, to_jsonable, write_results


def load_script(path: str):
    """Import a script (e.g. ``tools/demo.py``) as a module, by its path.

    Args:
        path (str): The script's file.

    Returns:
        module: A fresh module object, not put in ``sys.modules``.
    """
    name = '_script_' + osp.splitext(osp.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def last_checkpoint(run_dir: str):
    """The highest-epoch ``epoch_*.pth`` of a run, or None without one."""
    found = sorted(glob.glob(osp.join(run_dir, 'epoch_*.pth')),
                   key=lambda p: int(p.rsplit('_', 1)[1][:-4]))
    return found[-1] if found else None


def setup_registries() -> None:
    """mmdet's registries (not the default scope) and our package."""
    from mmdet.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    import mmdet_msrcnn  # noqa: F401


def build_trained_model(cfg, checkpoint: str):
    """``cfg.model`` built and given a runner-saved checkpoint's weights.

    The checkpoint is read weights-only, with the runner's own types
    allowed (:func:`mmdet_msrcnn.utils.runner_checkpoint_types_allowed`).
    """
    from mmdet.registry import MODELS
    from mmengine.runner import load_checkpoint

    from mmdet_msrcnn.utils import runner_checkpoint_types_allowed
    model = MODELS.build(cfg.model)
    with runner_checkpoint_types_allowed():
        load_checkpoint(model, checkpoint, map_location='cpu')
    return model


def config_name(config: str) -> str:
    """``configs/x/name.py`` -> ``name``."""
    return osp.splitext(osp.basename(config))[0]


def _subset(num: int, total: int):
    """``num`` indices spread evenly over ``range(total)``."""
    if num >= total:
        return None
    return sorted({int(i) for i in np.linspace(0, total - 1, num)})


def _num_images(loader) -> int:
    """Number of images in a dataloader config's annotation file."""
    ds = loader.dataset
    ann = osp.join(ds.data_root, ds.ann_file)
    with open(ann) as f:
        return len(json.load(f)['images'])


def limit_data(cfg, num_train=None, num_val=None) -> None:
    """Train / test on an evenly spread subset (smoke runs, probes).

    Uses mmengine's ``BaseDataset(indices=...)``; indices count the images
    of the annotation file before mmdet's filtering of empty images. The
    metrics still evaluate every image of the val annotation file, so AP
    on a subset is a smoke number only.

    Args:
        cfg (Config): A config from ``demo.build_cfg``; changed in place.
        num_train (int, optional): Training images to keep.
        num_val (int, optional): Validation images to keep.
    """
    if num_train:
        inds = _subset(num_train, _num_images(cfg.train_dataloader))
        if inds is not None:
            cfg.train_dataloader.dataset.indices = inds
    if num_val:
        inds = _subset(num_val, _num_images(cfg.test_dataloader))
        if inds is not None:
            for key in ('val_dataloader', 'test_dataloader'):
                if cfg.get(key) is not None:
                    cfg[key].dataset.indices = inds


def point_at_split(dataset_cfg, root: str, split: str, img_dir: str,
                   indices=None) -> None:
    """Point a COCO-style dataset config at ``split`` of a data root.

    Args:
        dataset_cfg: The loader's ``dataset`` config, updated in place.
        root (str): Data root ending in ``/``, with
            ``annotations/instances_{split}.json``.
        split (str): ``train`` or ``val``.
        img_dir (str): Image folder under the root, ``{split}`` replaced.
        indices: Images of the split to keep (default: all).
    """
    dataset_cfg.update(
        data_root=root, ann_file=f'annotations/instances_{split}.json',
        data_prefix=dict(img=img_dir.format(split=split)), indices=indices)


def no_val_loop(cfg) -> None:
    """Drop the validation loop; the test loop evaluates once at the end.

    ``demo.build_cfg`` sets ``val_interval`` past the last epoch, but
    mmengine's ``EpochBasedTrainLoop`` still validates after the last
    epoch, so the val set would be evaluated twice (val, then test).
    """
    cfg.val_cfg = None
    cfg.val_dataloader = None
    cfg.val_evaluator = None


def run_config(demo,
               config: str,
               args,
               num_train=None,
               num_val=None,
               extra=None,
               prepare_cfg=None) -> dict:
    """Train and evaluate one config as tools/demo.py does; save metrics.

    Args:
        demo (module): ``tools/demo.py`` (its ``build_cfg``, ``run_one``
            and ``REPO``), from :func:`load_script`.
        config (str): Config path.
        args (Namespace): With demo's ``work_dir``, ``data_root``,
            ``epochs``, ``seed`` and ``num_vis``.
        num_train (int, optional): Training subset size (smoke runs).
        num_val (int, optional): Validation subset size (smoke runs).
        extra (dict, optional): Stored in the json as well.
        prepare_cfg (callable, optional): Called on the built config
            before the run (e.g. to set up a frozen upgrade).

    Returns:
        dict: ``name``, ``config``, ``metrics`` (the Runner's test metrics),
        ``train_s``, ``test_s``, ``epochs``, ``seed``, ``num_train``,
        ``num_val``, ``files`` and ``extra``; also written to
        ``<work_dir>/<name>/metrics.json``.
    """
    cfg = demo.build_cfg(config, args)
    limit_data(cfg, num_train, num_val)
    no_val_loop(cfg)
    if prepare_cfg is not None:
        prepare_cfg(cfg)
    row = demo.run_one(config, args, cfg)
    row.update(
        config=osp.relpath(osp.abspath(config), demo.REPO),
        epochs=cfg.train_cfg.max_epochs,
        seed=args.seed,
        num_train=num_train,
        num_val=num_val,
        extra=extra or {})
    row['metrics'] = to_jsonable(dict(row['metrics']))
    save_json(row, osp.join(cfg.work_dir, 'metrics.json'))
    return row


def _time_test_loop(runner) -> float:
    """Seconds per image of the runner's test loop (no metrics)."""
    import torch
    runner.model.eval()
    start, seen = time.time(), 0
    for data in runner.test_dataloader:
        with torch.no_grad():
            seen += len(runner.model.test_step(data))
    return (time.time() - start) / max(seen, 1)


def probe_config(demo,
                 config: str,
                 args,
                 iters: int = 20,
                 num_val: int = 0) -> dict:
    """Time ``iters`` training iterations (and optionally some inference).

    Trains one epoch on ``iters * batch_size`` evenly spread training
    images (so exactly ``iters`` iterations, the real pipeline and model),
    reads the per-iteration times that mmengine's logger records, and
    projects the full schedule of the config.

    Args:
        demo (module): ``tools/demo.py``, as for :func:`run_config`.
        config (str): Config path.
        args (Namespace): As for :func:`run_config`.
        iters (int): Training iterations to time.
        num_val (int): If > 0, also time the test loop on that many val
            images (no metrics are computed then).

    Returns:
        dict: ``s_per_iter`` (median, first 3 iterations skipped),
        ``data_s_per_iter``, ``iters_per_epoch``, ``max_epochs``,
        ``projected_train_min`` and, with ``num_val``, ``s_per_val_image``
        and ``projected_test_min`` (inference only, all val images).
    """
    from mmengine.runner import Runner
    cfg = demo.build_cfg(config, args)
    max_epochs = cfg.train_cfg.max_epochs
    batch = cfg.train_dataloader.batch_size
    num_train = _num_images(cfg.train_dataloader)
    num_val_all = _num_images(cfg.test_dataloader)
    cfg.work_dir = osp.join(cfg.work_dir, 'probe')
    cfg.train_cfg.max_epochs = 1
    no_val_loop(cfg)
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=-1)
    cfg.default_hooks.logger.interval = 1
    limit_data(cfg, num_train=iters * batch, num_val=num_val or None)
    runner = Runner.from_cfg(cfg)
    runner.train()
    hub = runner.message_hub
    times = np.asarray(hub.get_scalar('train/time').data[0])
    data_times = np.asarray(hub.get_scalar('train/data_time').data[0])
    skip = min(3, max(len(times) - 1, 0))
    s_iter = float(np.median(times[skip:]))
    iters_per_epoch = math.ceil(num_train / batch)
    out = dict(
        config=osp.relpath(osp.abspath(config), demo.REPO),
        iters_timed=int(len(times)),
        s_per_iter=s_iter,
        data_s_per_iter=float(np.median(data_times[skip:])),
        iters_per_epoch=iters_per_epoch,
        max_epochs=max_epochs,
        projected_train_min=s_iter * iters_per_epoch * max_epochs / 60)
    if num_val:
        per_img = _time_test_loop(runner)
        out.update(
            s_per_val_image=per_img,
            projected_test_min=per_img * num_val_all / 60)
    return out


def reusable_run(path: str, args, seed: int, extra=None):
    """A saved :func:`run_config` row that fits ``args``, else ``None``.

    Only with ``args.skip_existing``: the row must have the same seed,
    subsets, ``extra`` (what :func:`run_config` stored; e.g. the detector
    of a frozen upgrade) and (when ``args.epochs`` is set) epochs.
    """
    if not (args.skip_existing and osp.exists(path)):
        return None
    row = load_json(path)
    want = dict(seed=seed, num_train=args.num_train, num_val=args.num_val)
    if any(row.get(k) != v for k, v in want.items()):
        return None
    if (row.get('extra') or {}) != (extra or {}):
        return None
    if args.epochs and row.get('epochs') != args.epochs:
        return None
    return row


def run_seeds(demo, models, args, base_work_dir: str) -> list:
    """Train and evaluate each model with each seed of ``args.seeds``.

    Args:
        demo (module): ``tools/demo.py``, as for :func:`run_config`.
        models (list[tuple[str, str]]): (label, config path), in order.
        args (Namespace): As for :func:`run_config`, plus ``seeds`` and
            ``skip_existing``.
        base_work_dir (str): Runs go to ``<it>/seed<S>/<config name>``.

    Returns:
        list[dict]: Per run ``model``, ``seed``, ``metrics``, ``train_s``,
        ``test_s``, ``epochs`` and ``metrics_file``, seed-major.
    """
    runs = []
    for seed in args.seeds:
        args.seed = seed
        args.work_dir = osp.join(base_work_dir, f'seed{seed}')
        for label, config in models:
            path = osp.join(args.work_dir, config_name(config), 'metrics.json')
            row = reusable_run(path, args, seed)
            if row is None:
                row = run_config(demo, config, args, args.num_train,
                                 args.num_val)
            else:
                print(f'{label} seed {seed}: reusing {path}')
            runs.append(
                dict(
                    model=label,
                    seed=seed,
                    metrics=row['metrics'],
                    train_s=row['train_s'],
                    test_s=row['test_s'],
                    epochs=row['epochs'],
                    metrics_file=path))
    args.work_dir = base_work_dir
    return runs


def add_run_args(parser,
                 data_root: str,
                 work_dir: str,
                 num_vis: int = 0) -> None:
    """The arguments every training benchmark takes (data, subsets, reuse).

    Args:
        parser (ArgumentParser): Gets ``--epochs``, ``--data-root``,
            ``--work-dir``, ``--num-train``, ``--num-val``, ``--num-vis``
            and ``--skip-existing``.
        data_root (str): Default of ``--data-root``.
        work_dir (str): Default of ``--work-dir``.
        num_vis (int): Default of ``--num-vis``.
    """
    parser.add_argument('--epochs', type=int, help='override max_epochs')
    parser.add_argument('--data-root', default=data_root)
    parser.add_argument('--work-dir', default=work_dir)
    parser.add_argument(
        '--num-train', type=int, help='train on a subset (smoke runs)')
    parser.add_argument(
        '--num-val', type=int, help='test on a subset (smoke runs)')
    parser.add_argument(
        '--num-vis',
        type=int,
        default=num_vis,
        help='validation images to draw')
    parser.add_argument(
        '--skip-existing',
        action='store_true',
        help='reuse <work-dir>/.../<config>/metrics.json when it was made '
        'with the same seed, epochs and subsets')


def report_seed_runs(runs, text: str, md: str, note: str, out_md: str,
                     out_json: str, start: float) -> None:
    """Print and write a seed table and the runs' timings."""
    write_results(text, md, note, dict(runs=runs), out_md, out_json)
    for r in runs:
        print(f"{r['model']} seed {r['seed']}: trained {r['epochs']} epochs "
              f"in {r['train_s'] / 60:.1f} min, evaluated in "
              f"{r['test_s'] / 60:.1f} min")
    print(f'\nwrote {out_md} and {out_json} in '
          f'{(time.time() - start) / 60:.1f} min')


def run_seeds_and_report(demo, models, args, build_table, describe, stem: str):
    """Train every model with every seed, then print and write the table.

    Args:
        demo (module): ``tools/demo.py``, as for :func:`run_config`.
        models (list[tuple[str, str]]): (label, config path), in order.
        args (Namespace): As for :func:`run_seeds`, plus ``out_md``.
        build_table (callable): runs -> (text, markdown) table.
        describe (callable): runs -> the note printed under the table.
        stem (str): Outputs go to ``<work_dir>/<stem>.md`` (or
            ``args.out_md``) and ``<work_dir>/<stem>.json``.

    Returns:
        list[dict]: The runs of :func:`run_seeds`.
    """
    base_work_dir = args.work_dir
    start = time.time()
    runs = run_seeds(demo, models, args, base_work_dir)
    text, md = build_table(runs)
    note = describe(runs)
    if args.num_train:
        note += f' Smoke run: {args.num_train} training images.'
    out_md = args.out_md or osp.join(base_work_dir, stem + '.md')
    out_json = osp.join(base_work_dir, stem + '.json')
    report_seed_runs(runs, text, md, note, out_md, out_json, start)
    return runs
