"""The main job: train and evaluate Mask Scoring R-CNN on the embedded set.

    python tools/demo.py                       # MS R-CNN (about 11 min, CPU)
    python tools/demo.py --baseline            # + Mask R-CNN, side by side
    python tools/demo.py --epochs 1            # a quick look

Steps: write the synthetic "shapes" set to ``data/shapes`` (deterministic,
skipped when up to date), train with mmengine's runner (progress and ETA in
the log), evaluate with mmdet's ``CocoMetric`` and our
``MaskQualityMetric``, draw the mask-quality figures (paper Fig. 5 and
Fig. 2c) and a few validation images labelled with both scores, and print
a summary table. Everything goes under ``--work-dir``.
"""
import argparse
import os
import os.path as osp
import sys
import time

HERE = osp.dirname(osp.abspath(__file__))
REPO = osp.dirname(HERE)
MS_CONFIG = osp.join(REPO, 'configs/demo/ms-rcnn_r18_fpn_shapes.py')
BASELINE_CONFIG = osp.join(REPO, 'configs/demo/mask-rcnn_r18_fpn_shapes.py')

SUMMARY_KEYS = [
    ('box AP', 'coco/bbox_mAP'),
    ('mask AP', 'coco/segm_mAP'),
    ('mask AP50', 'coco/segm_mAP_50'),
    ('mask AP75', 'coco/segm_mAP_75'),
    ('mask score vs true IoU, pearson', 'mask_quality/pearson_mask_score'),
    ('cls score vs true IoU, pearson', 'mask_quality/pearson_cls'),
    ('pred MaskIoU vs true, pearson', 'mask_quality/pearson_iou'),
    ('pred MaskIoU vs true, pearson, hits', 'mask_quality/pearson_iou_hits'),
    ('cls score vs true IoU, pearson, hits', 'mask_quality/pearson_cls_hits'),
    ('mask-score calibration error', 'mask_quality/ece'),
    ('oracle mask AP (true-IoU rescoring)', 'mask_quality/oracle_segm_mAP'),
]


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--config', default=MS_CONFIG)
    parser.add_argument(
        '--baseline',
        action='store_true',
        help='also train the Mask R-CNN twin and print both rows')
    parser.add_argument('--data-root', default=osp.join(REPO, 'data/shapes'))
    parser.add_argument('--work-dir', default=osp.join(REPO, 'work_dirs/demo'))
    parser.add_argument('--epochs', type=int, help='override max_epochs')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--num-vis', type=int, default=4,
                        help='validation images to draw')
    return parser.parse_args()


def scale_schedule(cfg, epochs: int) -> None:
    """Shorten or lengthen the epoch schedule, keeping its shape.

    ``max_epochs`` and the checkpoint interval become ``epochs``; an
    epoch-based scheduler's ``milestones`` and ``end`` are scaled by
    ``epochs / max_epochs`` (milestones rounded down, at least 1), so a
    shortened run still gets its learning-rate steps instead of never
    reaching them. Iteration-based schedulers (the warm-up) are left alone.

    Args:
        cfg (Config): Changed in place.
        epochs (int): The new number of training epochs.
    """
    if epochs < 1:
        raise ValueError(f'--epochs must be >= 1, got {epochs}')
    old = cfg.train_cfg.max_epochs
    cfg.train_cfg.max_epochs = epochs
    cfg.default_hooks.checkpoint.interval = epochs
    if 'val_interval' in cfg.train_cfg:
        cfg.train_cfg.val_interval = epochs
    scheds = cfg.get('param_scheduler') or []
    for sched in [scheds] if isinstance(scheds, dict) else scheds:
        if not sched.get('by_epoch', True):
            continue
        if 'milestones' in sched:
            sched['milestones'] = [
                max(1, int(m * epochs / old)) for m in sched['milestones']
            ]
        if sched.get('end') == old:
            sched['end'] = epochs


def build_cfg(config, args):
    """The demo config with data root, work dir, seed and dump path set."""
    from mmengine.config import Config
    cfg = Config.fromfile(config)
    name = osp.splitext(osp.basename(config))[0]
    cfg.work_dir = osp.join(args.work_dir, name)
    root = args.data_root.rstrip('/') + '/'
    for loader in (cfg.train_dataloader, cfg.val_dataloader,
                   cfg.test_dataloader):
        loader.dataset.data_root = root
    evaluators = []
    for ev in cfg.test_evaluator:
        ev = dict(ev)
        ev['ann_file'] = root + 'annotations/instances_val.json'
        if ev['type'].endswith('MaskQualityMetric'):
            ev['dump_file'] = osp.join(cfg.work_dir, 'mask_quality_dets.json')
        evaluators.append(ev)
    cfg.test_evaluator = evaluators
    cfg.val_evaluator = evaluators
    if args.epochs:
        scale_schedule(cfg, args.epochs)
    # evaluate once, after training, with the test loop (mmengine would
    # validate after the last epoch whatever val_interval says)
    cfg.val_cfg = None
    cfg.val_dataloader = None
    cfg.val_evaluator = None
    cfg.randomness = dict(seed=args.seed)
    cfg.visualizer = dict(
        type='mmdet_msrcnn.MaskScoreVisualizer',
        vis_backends=[dict(type='LocalVisBackend')],
        name='visualizer')
    return cfg


def _enlarge(img, sample, min_side):
    """Scale a small image and its predictions up so labels are legible."""
    import mmcv
    import torch.nn.functional as F
    scale = max(1, min_side // min(img.shape[:2]))
    if scale == 1:
        return img, sample
    img = mmcv.imrescale(img, scale, interpolation='nearest')
    inst = sample.pred_instances
    inst.bboxes = inst.bboxes * scale
    inst.masks = F.interpolate(
        inst.masks[None].float(), scale_factor=scale,
        mode='nearest')[0] > 0.5
    return img, sample


def draw_examples(runner, out_dir, num):
    """Draw the first ``num`` validation images with both scores."""
    import mmcv
    import torch
    os.makedirs(out_dir, exist_ok=True)
    runner.model.eval()
    written = []
    for data in runner.test_dataloader:
        with torch.no_grad():
            outputs = runner.model.test_step(data)
        for sample in outputs:
            if len(written) >= num:
                return written
            img = mmcv.imread(sample.img_path, channel_order='rgb')
            img, sample = _enlarge(img, sample, min_side=512)
            out_file = osp.join(out_dir, osp.basename(sample.img_path))
            runner.visualizer.add_datasample(
                osp.basename(sample.img_path),
                img,
                sample,
                draw_gt=False,
                pred_score_thr=0.3,
                out_file=out_file)
            written.append(out_file)
    return written


def run_one(config, args, cfg=None):
    """Train, test, plot and draw one config; ``cfg``: a prebuilt config."""
    from mmengine.runner import Runner
    sys.path.insert(0, osp.join(HERE, 'analysis'))
    from plot_mask_quality import load_records, plot_mask_quality
    if cfg is None:
        cfg = build_cfg(config, args)
    runner = Runner.from_cfg(cfg)
    start = time.time()
    runner.train()
    train_s = time.time() - start
    metrics = runner.test()
    test_s = time.time() - start - train_s
    dump = osp.join(cfg.work_dir, 'mask_quality_dets.json')
    plots = plot_mask_quality(load_records(dump),
                              osp.join(cfg.work_dir, 'plots'))
    images = draw_examples(runner, osp.join(cfg.work_dir, 'vis'),
                           args.num_vis)
    return dict(
        name=osp.splitext(osp.basename(config))[0],
        metrics=metrics,
        train_s=train_s,
        test_s=test_s,
        files=list(plots) + images)


def print_summary(rows):
    names = [r['name'] for r in rows]
    width = max(len(k) for k, _ in SUMMARY_KEYS) + 2
    print('\n' + 'metric'.ljust(width) + ''.join(n.rjust(30) for n in names))
    for label, key in SUMMARY_KEYS:
        cells = []
        for r in rows:
            value = r['metrics'].get(key, float('nan'))
            cells.append(f'{value:.3f}'.rjust(30))
        print(label.ljust(width) + ''.join(cells))
    for r in rows:
        print(f"\n{r['name']}: trained in {r['train_s'] / 60:.1f} min, "
              f"evaluated in {r['test_s']:.0f} s; wrote:")
        for f in r['files']:
            print('  ' + osp.relpath(f, REPO))


def main():
    args = parse_args()
    sys.path.insert(0, REPO)
    from mmdet.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    from mmdet_msrcnn.synthetic import generate_shapes_dataset
    info = generate_shapes_dataset(args.data_root, seed=0)
    print(f"shapes data set: {info['data_root']} "
          f"({'written' if info['generated'] else 'up to date'})")
    configs = [args.config] + ([BASELINE_CONFIG] if args.baseline else [])
    rows = [run_one(c, args) for c in configs]
    print_summary(rows)


if __name__ == '__main__':
    main()
