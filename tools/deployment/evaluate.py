#!/usr/bin/env python
"""What the export's hard NMS costs: evaluate a checkpoint three ways.

    python tools/deployment/evaluate.py CONFIG CHECKPOINT [--onnx FILE]
        [--deploy-cfg DEPLOY_CFG] [--work-dir DIR] [--out-json FILE]

On the config's test set, with its evaluators (COCO box / mask AP and the
mask-quality metric):

* ``pytorch_soft_nms``: the config as it is (the demo configs test with
  Soft-NMS, as the paper);
* ``pytorch_hard_nms``: the same checkpoint with hard NMS of the same IoU
  threshold, what the exported graph runs (no ONNX operator does
  Soft-NMS);
* ``onnx_runtime``: the exported graph in ONNX Runtime (exported here from
  CONFIG and CHECKPOINT unless ``--onnx``), one image a call.

The first two differ by the NMS alone; the last two should agree to
rounding. Needs the deploy extras (``pip install -e .[deploy]``).
"""
import argparse
import copy
import json
import os
import os.path as osp
import sys
import tempfile

HERE = osp.dirname(osp.abspath(__file__))
REPO = osp.dirname(osp.dirname(HERE))
DEFAULT_DEPLOY_CFG = osp.join(
    REPO, 'configs/deploy/instance-seg-scoring_onnxruntime_dynamic.py')
#: (label, metric key) of the printed table
KEYS = (('box AP', 'coco/bbox_mAP'), ('box AP50', 'coco/bbox_mAP_50'),
        ('mask AP', 'coco/segm_mAP'), ('mask AP50', 'coco/segm_mAP_50'),
        ('mask AP75', 'coco/segm_mAP_75'),
        ('mask AP, mask-score ranking', 'mask_quality/segm_mAP'),
        ('mask score vs IoU, pearson', 'mask_quality/pearson_mask_score'))
RUNS = ('pytorch_soft_nms', 'pytorch_hard_nms', 'onnx_runtime')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--onnx', help='an exported graph of CHECKPOINT')
    parser.add_argument('--deploy-cfg', default=DEFAULT_DEPLOY_CFG)
    parser.add_argument('--work-dir')
    parser.add_argument('--out-json', help='write the metrics as JSON')
    return parser.parse_args(argv)


def test_cfg(config, checkpoint, work_dir, hard_nms):
    """The test config of one PyTorch run (one image a batch)."""
    from mmengine.config import Config
    cfg = Config.fromfile(config)
    cfg.work_dir = work_dir
    cfg.load_from = checkpoint
    cfg.test_dataloader.batch_size = 1
    cfg.visualizer = dict(type='DetLocalVisualizer', name='eval_vis')
    if hard_nms:
        nms = cfg.model.test_cfg.rcnn.nms
        cfg.model.test_cfg.rcnn.nms = dict(
            type='nms', iou_threshold=nms.iou_threshold)
    return cfg


def evaluate_onnx(runner, det):
    """Run the test set through ONNX Runtime; the evaluators' metrics."""
    from mmdet_msrcnn.deployment import to_instances
    model = runner.model
    evaluator = runner.test_evaluator
    for data in runner.test_dataloader:
        data = model.data_preprocessor(data, False)
        samples = data['data_samples']
        for i, sample in enumerate(samples):
            outputs = det.forward(data['inputs'][i:i + 1])
            sample.pred_instances = to_instances(outputs, sample.metainfo,
                                                 det.rcnn_test_cfg,
                                                 det.mask_score_as_score)
        evaluator.process(data_samples=samples, data_batch=data)
    return evaluator.evaluate(len(runner.test_dataloader.dataset))


def main(argv=None):
    args = parse_args(argv)
    sys.path.insert(0, REPO)
    from mmengine.runner import Runner

    from mmdet_msrcnn.deployment import (ORTMaskScoringDetector,
                                         export_checkpoint)
    work_dir = args.work_dir or tempfile.mkdtemp(prefix='msrcnn_eval_')
    metrics = {}
    for run in RUNS[:2]:
        cfg = test_cfg(args.config, args.checkpoint,
                       osp.join(work_dir, run), run == 'pytorch_hard_nms')
        metrics[run] = dict(Runner.from_cfg(cfg).test())
    onnx_file = args.onnx
    if onnx_file is None:
        onnx_file = osp.join(work_dir, 'end2end.onnx')
        img = osp.join(REPO, 'data/shapes/images/val')
        img = osp.join(img, sorted(os.listdir(img))[0])
        export_checkpoint(args.config, args.checkpoint, args.deploy_cfg,
                          img, onnx_file)
    cfg = test_cfg(args.config, args.checkpoint,
                   osp.join(work_dir, 'onnx_runtime'), True)
    runner = Runner.from_cfg(copy.deepcopy(cfg))
    det = ORTMaskScoringDetector(onnx_file, args.config, args.deploy_cfg)
    metrics['onnx_runtime'] = dict(evaluate_onnx(runner, det))
    print(f"\n| metric | {' | '.join(RUNS)} | hard - soft |")
    print('| --- |' + ' ---: |' * (len(RUNS) + 1))
    for label, key in KEYS:
        values = [metrics[run].get(key, float('nan')) for run in RUNS]
        print(f'| {label} | ' + ' | '.join(f'{v:.4f}' for v in values) +
              f' | {values[1] - values[0]:+.4f} |')
    if args.out_json:
        with open(args.out_json, 'w') as f:
            json.dump(metrics, f, indent=1, default=float)
    return metrics


if __name__ == '__main__':
    main()
