"""Real-data benchmark: Mask R-CNN vs MS R-CNN on DSB2018 nuclei.

    python tools/benchmark/nuclei.py                    # both, seed 0
    python tools/benchmark/nuclei.py --seeds 0 1        # several seeds
    python tools/benchmark/nuclei.py --probe 20         # timing only
    python tools/benchmark/nuclei.py --epochs 1 --num-train 8 --num-val 4

Trains and evaluates ``configs/nuclei/mask-rcnn_r18_fpn_nuclei.py`` and
``configs/nuclei/ms-rcnn_r18_fpn_nuclei.py`` (identical but for the MaskIoU
head) with the same seed, through ``tools/demo.py``'s ``build_cfg`` /
``run_one``. Writes ``<work-dir>/seed<S>/<config>/metrics.json``, then one
table (markdown: ``--out-md``, json: ``<work-dir>/nuclei_results.json``):

- box AP: CocoMetric ``coco/bbox_mAP`` (pycocotools takes this one at 100
  detections per image whatever ``proposal_nums`` is);
- mask AP, AP50, AP75, APs, APm, APl: MaskQualityMetric ``segm_*``, ranked
  by the mask score (Mask R-CNN: the classification score), every AP at up
  to 1000 detections per image (``max_dets``; models keep 400);
- predicted-vs-true MaskIoU Pearson / Spearman (Mask R-CNN: the
  classification score as its MaskIoU estimate), calibration error (ECE) of
  the mask score, and the oracle mask AP (``score * true IoU``).

``--probe N`` trains N iterations of each model on the real pipeline, times
them (and inference on ``--probe-val`` images) and projects the full
schedule; nothing is evaluated.
"""
import argparse
import os.path as osp

from msrcnn_benchmark import results, runs

TOOLS = osp.dirname(osp.dirname(osp.abspath(__file__)))
REPO = osp.dirname(TOOLS)
MODELS = {
    'mask': ('Mask R-CNN',
             osp.join(REPO, 'configs/nuclei/mask-rcnn_r18_fpn_nuclei.py')),
    'ms':
    ('MS R-CNN', osp.join(REPO, 'configs/nuclei/ms-rcnn_r18_fpn_nuclei.py')),
    # the ranking work's best demo option (docs/ranking.md)
    'ms_best': ('MS R-CNN, dets + balancing, detached',
                osp.join(
                    REPO, 'configs/nuclei/'
                    'ms-rcnn_r18_fpn_nuclei_dets-balanced_detached.py')),
    'ms_rank': ('MS R-CNN, dets + balancing, detached, ranking loss',
                osp.join(
                    REPO, 'configs/nuclei/'
                    'ms-rcnn_r18_fpn_nuclei_dets-balanced_detached_rank.py')),
    'ms_jitter': ('MS R-CNN, the same + jittered ground-truth boxes',
                  osp.join(
                      REPO, 'configs/nuclei/ms-rcnn_r18_fpn_nuclei_'
                      'dets-balanced_detached_rank_jitter.py')),
    # mmdet's own MS R-CNN, for the three-way comparison
    'mmdet_ms': ('mmdet MS R-CNN',
                 osp.join(REPO,
                          'configs/nuclei/mmdet-ms-rcnn_r18_fpn_nuclei.py')),
}
DATA_ROOT = osp.join(REPO, '../shared/datasets/dsb2018_nuclei')

#: (column, metric key, scale, digits)
COLUMNS = [
    ('box AP', 'coco/bbox_mAP', 100, 1),
    ('mask AP', 'mask_quality/segm_mAP', 100, 1),
    ('AP50', 'mask_quality/segm_mAP_50', 100, 1),
    ('AP75', 'mask_quality/segm_mAP_75', 100, 1),
    ('APs', 'mask_quality/segm_mAP_s', 100, 1),
    ('APm', 'mask_quality/segm_mAP_m', 100, 1),
    ('APl', 'mask_quality/segm_mAP_l', 100, 1),
    ('IoU Pearson', 'mask_quality/pearson_iou', 1, 3),
    ('IoU Spearman', 'mask_quality/spearman_iou', 1, 3),
    ('ECE', 'mask_quality/ece', 1, 3),
    ('oracle mask AP', 'mask_quality/oracle_segm_mAP', 100, 1),
    ('mask AP, cls-ranked', 'mask_quality/score_segm_mAP', 100, 1),
    ('AP75, cls-ranked', 'mask_quality/score_segm_mAP_75', 100, 1),
]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--seeds', type=int, nargs='+', default=[0])
    parser.add_argument(
        '--models', nargs='+', choices=sorted(MODELS), default=['mask', 'ms'])
    runs.add_run_args(
        parser, DATA_ROOT, osp.join(REPO, 'work_dirs/nuclei'), num_vis=4)
    parser.add_argument(
        '--probe',
        type=int,
        metavar='N',
        help='time N training iterations per model and project; no '
        'evaluation')
    parser.add_argument(
        '--probe-val',
        type=int,
        default=0,
        help='with --probe: also time inference on that many val images')
    parser.add_argument(
        '--out-md',
        help='markdown table (default: '
        '<work-dir>/nuclei_results.md)')
    return parser.parse_args(argv)


def build_table(seed_runs):
    """Text and markdown table: one row per run, mean ± std per model."""
    return results.seed_table(seed_runs, COLUMNS,
                              'DSB2018 nuclei, val (132 images)')


def run_probe(demo, args):
    """Time ``--probe`` training iterations per model; project the rest."""
    out = []
    for key in args.models:
        label, config = MODELS[key]
        args.seed = args.seeds[0]
        res = runs.probe_config(demo, config, args, args.probe, args.probe_val)
        res['model'] = label
        out.append(res)
        print(f"{label}: {res['s_per_iter']:.2f} s/iter (data "
              f"{res['data_s_per_iter']:.2f} s) over {res['iters_timed']} "
              f"iterations; {res['iters_per_epoch']} iters/epoch x "
              f"{res['max_epochs']} epochs -> "
              f"{res['projected_train_min']:.0f} min training" +
              (f"; inference {res['s_per_val_image']:.2f} s/image -> "
               f"{res['projected_test_min']:.1f} min for the val set"
               if 's_per_val_image' in res else ''))
    results.save_json(out, osp.join(args.work_dir, 'probe.json'))
    return out


NOTE = ('AP in %. box AP: CocoMetric (<= 100 detections per image); '
        'mask APs: MaskQualityMetric, mask-score ranked, <= 1000 '
        'detections per image. IoU Pearson / Spearman: predicted '
        '(Mask R-CNN: classification score) vs true MaskIoU; ECE: '
        'calibration error of the mask score; oracle: score x true IoU; '
        'cls-ranked: the same masks ranked by the classification score '
        "(equal to mask AP for Mask R-CNN and mmdet's MS R-CNN).")


def main(argv=None):
    args = parse_args(argv)
    runs.setup_registries()
    demo = runs.load_script(osp.join(TOOLS, 'demo.py'))
    args.data_root = osp.abspath(args.data_root)
    if not osp.exists(osp.join(args.data_root, 'annotations')):
        raise FileNotFoundError(
            f'No nuclei data set at {args.data_root}; see '
            '../shared/datasets/dsb2018_nuclei/README.md or pass '
            '--data-root.')
    base_work_dir = args.work_dir
    if args.probe:
        args.work_dir = osp.join(base_work_dir, 'probe')
        return run_probe(demo, args)
    return runs.run_seeds_and_report(
        demo, [MODELS[key] for key in args.models], args, build_table,
        lambda seed_runs: NOTE, 'nuclei_results')


if __name__ == '__main__':
    main()
