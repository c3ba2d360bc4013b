"""Rankings of one trained model's masks, paired on the same checkpoint.

For each trained config (a work dir of ``tools/benchmark/ablation.py`` or
``tools/demo.py``: ``<work_dir>/<name>/`` with its checkpoint):

1. detections of ``--num-fit`` *training* images are dumped with
   ``MaskQualityMetric`` and the exponent of ``scores x mask_ious**p`` is
   fitted there, two ways: the Spearman correlation of the product with
   the oracle score over all detections
   (``tools/analysis/fit_mask_score_power.py``), and (unless
   ``--no-fit-ap``) the segm AP of those training images ranked by the product,
   one evaluation per power of ``--ap-powers``;
2. the val set is evaluated with power 1 (the paper's product) and with
   each fitted power. ``MaskQualityMetric`` gives, on the same masks: the
   classification-score ranking (``score_segm_*``), scores x maskness
   (``maskness_segm_*``), the mask score (``segm_*``, with that power), the
   oracle, and the headroom recovered;
3. the spread of the predicted MaskIoU per true-IoU bin on the val
   detections (power 1's run: a description, nothing is fitted on it).

    python tools/benchmark/ranking.py --work-dir work_dirs/ranking \\
        --configs configs/demo/ms-rcnn_r18_fpn_shapes.py ...

Writes ``<work_dir>/<name>/ranking.json`` and prints a table.
"""
import argparse
import os.path as osp
import time

from msrcnn_benchmark.results import save_json
from msrcnn_benchmark.runs import (config_name, last_checkpoint,
                                   point_at_split, setup_registries)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--configs', nargs='+', required=True)
    parser.add_argument('--work-dir', default='work_dirs/ranking')
    parser.add_argument('--data-root', default='data/shapes/')
    parser.add_argument(
        '--img-dir',
        default='images/{split}/',
        help="image folder under the data root, '{split}' replaced by "
        "train / val (nuclei: 'images/', one folder for both)")
    parser.add_argument('--num-fit', type=int, default=100,
                        help='training images the power is fitted on')
    parser.add_argument('--max-dets', type=int, default=100)
    parser.add_argument('--num-val', type=int,
                        help='val images (default: all; smoke runs)')
    parser.add_argument(
        '--no-fit-ap',
        dest='fit_ap',
        action='store_false',
        help='fit the power by Spearman only (no training-image AP runs)')
    parser.add_argument(
        '--ap-powers',
        type=float,
        nargs='+',
        default=[0.5, 1.0, 2.0, 3.0, 4.0],
        help='powers whose training-image AP is measured for the AP fit')
    return parser.parse_args(argv)


def _checkpoint(run_dir: str) -> str:
    found = last_checkpoint(run_dir)
    if found is None:
        raise SystemExit(f'{run_dir}: no epoch_*.pth; train it first.')
    return found


def _test(config, checkpoint, work_dir, root, split, dump=None,
          indices=None, power=None, max_dets=100, img_dir='images/{split}/'):
    """Evaluate ``checkpoint`` on a split with MaskQualityMetric only."""
    from mmengine.config import Config
    from mmengine.runner import Runner
    cfg = Config.fromfile(config)
    cfg.work_dir = work_dir
    cfg.load_from = checkpoint
    point_at_split(cfg.test_dataloader.dataset, root, split, img_dir,
                   indices)
    cfg.test_evaluator = dict(
        type='mmdet_msrcnn.MaskQualityMetric',
        ann_file=root + f'annotations/instances_{split}.json',
        dump_file=dump, max_dets=(1, 10, max_dets))
    if power is not None:
        cfg.model.roi_head.mask_score_power = power
    cfg.train_dataloader = cfg.train_cfg = cfg.optim_wrapper = None
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    cfg.param_scheduler = None
    cfg.visualizer = None
    runner = Runner.from_cfg(cfg)
    return dict(runner.test())


def main(argv=None):
    args = parse_args(argv)
    setup_registries()
    from mmdet_msrcnn.evaluation.functional import (fit_mask_score_power,
                                                    load_records,
                                                    spread_by_true_iou)
    root = args.data_root.rstrip('/') + '/'
    rows = []
    for config in args.configs:
        name = config_name(config)
        run_dir = osp.join(args.work_dir, name)
        ckpt = _checkpoint(run_dir)
        start = time.time()
        dump = osp.join(run_dir, 'train_dets.npz')
        _test(config, ckpt, osp.join(run_dir, 'fit'), root, 'train',
              dump=dump, indices=args.num_fit, max_dets=args.max_dets,
              img_dir=args.img_dir)
        rec = load_records(dump)
        keep = rec['score'] > 0.05
        fit = fit_mask_score_power(rec['score'][keep], rec['pred_iou'][keep],
                                   rec['true_iou'][keep])
        powers = {1.0, fit['power']}
        if args.fit_ap:
            fit['train_ap'] = {
                str(p): _test(config, ckpt, osp.join(run_dir, f'fit_p{p:g}'),
                              root, 'train', indices=args.num_fit, power=p,
                              max_dets=args.max_dets,
                              img_dir=args.img_dir)['mask_quality/segm_mAP']
                for p in args.ap_powers
            }
            fit['power_ap'] = max(
                sorted(args.ap_powers),
                key=lambda p: (fit['train_ap'][str(p)], -p))
            powers.add(fit['power_ap'])
        val = {}
        for power in sorted(powers):
            val_dump = osp.join(run_dir, f'val_dets_p{power:g}.npz')
            metrics = _test(config, ckpt, osp.join(run_dir, f'p{power:g}'),
                            root, 'val', dump=val_dump, power=power,
                            indices=args.num_val, max_dets=args.max_dets,
                            img_dir=args.img_dir)
            val[str(power)] = {
                k.split('/', 1)[1]: v
                for k, v in metrics.items() if k.startswith('mask_quality/')
            }
        val_rec = load_records(osp.join(run_dir, 'val_dets_p1.npz'))
        keep = val_rec['score'] > 0.05
        spread = {
            k: v.tolist()
            for k, v in spread_by_true_iou(val_rec['true_iou'][keep],
                                           val_rec['pred_iou'][keep]).items()
        }
        row = dict(name=name, checkpoint=ckpt, fit=fit, val=val,
                   val_spread=spread, seconds=time.time() - start)
        save_json(row, osp.join(run_dir, 'ranking.json'))
        rows.append(row)
    print_table(rows)
    return rows


def print_table(rows) -> None:
    from mmdet_msrcnn.evaluation.functional import spread_lines
    keys = ('score_segm_mAP', 'maskness_segm_mAP', 'segm_mAP',
            'oracle_segm_mAP', 'headroom_recovered', 'score_segm_mAP_75',
            'segm_mAP_75', 'headroom_recovered_75', 'pearson_iou_hits',
            'spearman_iou')
    print('config | power | ' + ' | '.join(keys))
    for row in rows:
        for power, m in row['val'].items():
            cells = [f'{m.get(k, float("nan")):.4f}' for k in keys]
            print(f'{row["name"]} | {power} | ' + ' | '.join(cells))
    for row in rows:
        fit = row['fit']
        print(f'\n{row["name"]}: fitted on training images: Spearman -> '
              f'power {fit["power"]:g}' +
              (f', training AP -> power {fit["power_ap"]:g} (AP by power: ' +
               ', '.join(f'{p}: {ap:.4f}'
                         for p, ap in fit['train_ap'].items()) + ')'
               if 'power_ap' in fit else ''))
        print('val: ' + '\n'.join(spread_lines(row['val_spread'])))


if __name__ == '__main__':
    main()
