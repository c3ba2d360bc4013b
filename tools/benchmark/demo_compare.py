"""Mask R-CNN vs mmdet's built-in MS R-CNN vs ours, over several seeds.

    python tools/benchmark/demo_compare.py --seeds 0 1 2
    python tools/benchmark/demo_compare.py --seeds 0 1 --skip-existing
    python tools/benchmark/demo_compare.py --epochs 1 --num-train 8 \\
        --num-val 4 --work-dir /tmp/compare-smoke          # smoke run

Trains and evaluates the three demo configs, identical but for the mask
scoring (``configs/demo/mask-rcnn_r18_fpn_shapes.py``,
``mmdet-ms-rcnn_r18_fpn_shapes.py``, ``ms-rcnn_r18_fpn_shapes.py``), with
each seed, through ``tools/demo.py``'s ``build_cfg`` / ``run_one`` on the
embedded shapes set. Writes ``<work-dir>/seed<S>/<config>/metrics.json``
and one table (``<work-dir>/demo_compare.md`` and ``.json``): one row per
run and the mean ± std of each model.

Columns: box AP (CocoMetric, ranked by ``scores``: mmdet's built-in head
overwrites them with its mask score), mask AP / AP50 / AP75 ranked by the
mask score (MaskQualityMetric), Pearson correlation with the true MaskIoU of
the final mask score over all detections and of the MaskIoU estimate over
the detections that hit an object of their class (Mask R-CNN and mmdet's
head: their score), calibration error of the mask score and the oracle
mask AP (``score x true IoU``).
"""
import argparse
import os.path as osp

from msrcnn_benchmark import results, runs

TOOLS = osp.dirname(osp.dirname(osp.abspath(__file__)))
REPO = osp.dirname(TOOLS)
MODELS = [
    ('Mask R-CNN', osp.join(REPO, 'configs/demo/mask-rcnn_r18_fpn_shapes.py')),
    ('mmdet MS R-CNN',
     osp.join(REPO, 'configs/demo/mmdet-ms-rcnn_r18_fpn_shapes.py')),
    ('ours MS R-CNN',
     osp.join(REPO, 'configs/demo/ms-rcnn_r18_fpn_shapes.py')),
]

#: (column, metric key, scale, digits)
COLUMNS = [
    ('box AP', 'coco/bbox_mAP', 100, 1),
    ('mask AP', 'mask_quality/segm_mAP', 100, 1),
    ('AP50', 'mask_quality/segm_mAP_50', 100, 1),
    ('AP75', 'mask_quality/segm_mAP_75', 100, 1),
    ('mask score Pearson', 'mask_quality/pearson_mask_score', 1, 3),
    ('IoU estimate Pearson, hits', 'mask_quality/pearson_iou_hits', 1, 3),
    ('ECE', 'mask_quality/ece', 1, 3),
    ('oracle mask AP', 'mask_quality/oracle_segm_mAP', 100, 1),
    ('mask AP, cls-ranked', 'mask_quality/score_segm_mAP', 100, 1),
]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument(
        '--models',
        nargs='+',
        type=int,
        choices=range(len(MODELS)),
        default=list(range(len(MODELS))),
        help='indices into ' + ', '.join(m[0] for m in MODELS))
    runs.add_run_args(parser, osp.join(REPO, 'data/shapes'),
                      osp.join(REPO, 'work_dirs/demo_compare'))
    parser.add_argument('--out-md', help='default: <work-dir>/demo_compare.md')
    return parser.parse_args(argv)


def build_table(seed_runs):
    """Text and markdown table: one row per run, mean ± std per model."""
    return results.seed_table(seed_runs, COLUMNS, 'shapes val (100 images)')


def describe(seed_runs) -> str:
    """The note under the table: sources and definitions of the columns."""
    epochs = sorted({r['epochs'] for r in seed_runs})
    seeds = sorted({r['seed'] for r in seed_runs})
    return (f'AP in %, {"/".join(map(str, epochs))} epochs, seeds '
            f'{" ".join(map(str, seeds))}. box AP: CocoMetric (ranked '
            "by `scores`; mmdet's MS R-CNN puts its mask score there). Mask "
            'APs: MaskQualityMetric, ranked by the mask score. Pearson with '
            'the true MaskIoU: of the mask score over detections with score '
            '> 0.05, and of the MaskIoU estimate (models without one: their '
            'score) over those that hit an object of their class. ECE: '
            'calibration error of the mask score; oracle: score x true IoU; '
            'cls-ranked: the same masks ranked by `scores` (equal to mask '
            "AP for Mask R-CNN and mmdet's MS R-CNN).")


def main(argv=None):
    args = parse_args(argv)
    runs.setup_registries()
    demo = runs.load_script(osp.join(TOOLS, 'demo.py'))
    from mmdet_msrcnn.synthetic import generate_shapes_dataset
    generate_shapes_dataset(args.data_root, seed=0)
    return runs.run_seeds_and_report(
        demo, [MODELS[i] for i in args.models], args, build_table, describe,
        'demo_compare')


if __name__ == '__main__':
    main()
