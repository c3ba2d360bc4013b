#!/usr/bin/env python
"""Export a mask scoring detector to ONNX and run an image in ONNX Runtime.

    python tools/deployment/deploy.py CONFIG --img IMG [--checkpoint CKPT]
        [--deploy-cfg DEPLOY_CFG] [--work-dir DIR] [--onnx FILE]
        [--out FILE] [--score-thr 0.3] [--compare]

Steps: export CONFIG (with CKPT's weights; random ones without) through
mmdeploy with our rewriters to ``DIR/end2end.onnx`` (skipped with
``--onnx``, which runs that file instead), run IMG through ONNX Runtime on
CPU, print the detections with both scores (classification score and mask
score = classification score x predicted MaskIoU) and draw them to
``--out``. ``--compare`` also runs the PyTorch model under hard NMS (what
the graph runs) and prints how far the two results are apart. Needs the
deploy extras (``pip install -e .[deploy]``); see docs/deployment.md.
"""
import argparse
import copy
import os
import os.path as osp
import sys

HERE = osp.dirname(osp.abspath(__file__))
REPO = osp.dirname(osp.dirname(HERE))
DEFAULT_DEPLOY_CFG = osp.join(
    REPO, 'configs/deploy/instance-seg-scoring_onnxruntime_dynamic.py')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='the detector config')
    parser.add_argument('--img', required=True, help='an image file')
    parser.add_argument(
        '--checkpoint', help='its weights (random weights without)')
    parser.add_argument('--deploy-cfg', default=DEFAULT_DEPLOY_CFG)
    parser.add_argument(
        '--work-dir', default=osp.join(REPO, 'work_dirs/deploy'))
    parser.add_argument(
        '--onnx', help='run this exported file instead of exporting')
    parser.add_argument(
        '--out', help='the drawn image (default: WORK_DIR/ort_result.png)')
    parser.add_argument(
        '--score-thr',
        type=float,
        default=0.3,
        help='draw and list detections of this classification score up')
    parser.add_argument(
        '--min-side',
        type=int,
        default=512,
        help='enlarge small images to this side for a legible drawing '
        '(0: never)')
    parser.add_argument(
        '--compare',
        action='store_true',
        help='also run PyTorch (hard NMS) and print the differences')
    parser.add_argument(
        '--threads', type=int, help='ONNX Runtime intra-op threads')
    return parser.parse_args(argv)


def _enlarge(img, instances, min_side):
    """Scale a small image and its detections up (nearest) for drawing."""
    import mmcv
    import torch.nn.functional as F
    scale = max(1, min_side // min(img.shape[:2])) if min_side else 1
    if scale == 1:
        return img, instances
    instances = instances.clone()
    instances.bboxes = instances.bboxes * scale
    instances.masks = F.interpolate(
        instances.masks[None].float(), scale_factor=scale,
        mode='nearest')[0] > 0.5
    return mmcv.imrescale(img, scale, interpolation='nearest'), instances


def draw(img_file, sample, metainfo, out_file, score_thr, min_side):
    """Draw the detections with both scores (MaskScoreVisualizer)."""
    import mmcv

    from mmdet_msrcnn.visualization import MaskScoreVisualizer
    img = mmcv.imread(img_file, channel_order='rgb')
    sample = copy.copy(sample)
    img, sample.pred_instances = _enlarge(img, sample.pred_instances,
                                          min_side)
    vis = MaskScoreVisualizer.get_instance('mmdet_msrcnn_deploy')
    if metainfo:
        vis.dataset_meta = dict(metainfo)
    vis.add_datasample(
        osp.basename(img_file),
        img,
        sample,
        draw_gt=False,
        pred_score_thr=score_thr,
        out_file=out_file)
    return out_file


def print_detections(results, classes, score_thr):
    keep = results.scores >= score_thr
    print(f'{int(keep.sum())} detections (cls score >= {score_thr}) of '
          f'{len(results)}:')
    print(f"{'class':>12} {'cls':>6} {'MaskIoU':>8} {'mask':>6}   box")
    for i in keep.nonzero()[:, 0].tolist():
        label = int(results.labels[i])
        name = classes[label] if classes else str(label)
        box = ' '.join(f'{v:.1f}' for v in results.bboxes[i].tolist())
        print(f'{name:>12} {float(results.scores[i]):6.3f} '
              f'{float(results.mask_ious[i]):8.3f} '
              f'{float(results.mask_scores[i]):6.3f}   {box}')


def compare_with_pytorch(det, model, img_file):
    """Run PyTorch under hard NMS on the same input; print the gaps."""
    import torch
    model = copy.deepcopy(model).eval()
    nms = model.roi_head.test_cfg.nms
    model.roi_head.test_cfg.nms = dict(
        type='nms', iou_threshold=nms.iou_threshold)
    data = det.preprocess(img_file)
    ort = det.predict(copy.deepcopy(data))[0].pred_instances
    with torch.no_grad():
        ref = model.predict(data['inputs'], data['data_samples'],
                            rescale=True)[0].pred_instances
    print(f'PyTorch (hard NMS): {len(ref)} detections, ONNX Runtime: '
          f'{len(ort)}')
    if len(ref) != len(ort) or not len(ref):
        return None
    inter = (ort.masks & ref.masks).flatten(1).sum(1).double()
    union = (ort.masks | ref.masks).flatten(1).sum(1).double()
    iou = torch.where(union > 0, inter / union.clamp(min=1),
                      torch.ones_like(union))
    gaps = dict(
        labels_equal=bool((ort.labels == ref.labels).all()),
        box_rel=float(((ort.bboxes - ref.bboxes).abs() /
                       ref.bboxes.abs().clamp(min=1)).max()),
        mask_iou_min=float(iou.min()),
        mask_ious_abs=float((ort.mask_ious - ref.mask_ious).abs().max()))
    print('  labels equal: {labels_equal}, max relative box error '
          '{box_rel:.2e}, min mask IoU {mask_iou_min:.4f}, max mask_ious '
          'error {mask_ious_abs:.2e}'.format(**gaps))
    return gaps


def main(argv=None):
    """Export (unless ``--onnx``), run, print and draw.

    Returns:
        InstanceData: The ONNX Runtime detections of the image.
    """
    args = parse_args(argv)
    sys.path.insert(0, REPO)
    from mmdet.utils import register_all_modules
    register_all_modules(init_default_scope=True)
    from mmdeploy.apis import build_task_processor

    from mmdet_msrcnn.deployment import (ORTMaskScoringDetector,
                                         export_model, load_configs)
    deploy_cfg, model_cfg = load_configs(args.deploy_cfg, args.config)
    model = None
    onnx_file = args.onnx
    if onnx_file is None or args.compare:
        processor = build_task_processor(model_cfg, deploy_cfg, 'cpu')
        model = processor.build_pytorch_model(args.checkpoint)
    if onnx_file is None:
        os.makedirs(args.work_dir, exist_ok=True)
        onnx_file = osp.join(args.work_dir, 'end2end.onnx')
        export_model(model, model_cfg, deploy_cfg, args.img, onnx_file)
        print(f'exported {onnx_file}')
    det = ORTMaskScoringDetector(
        onnx_file, model_cfg, deploy_cfg, num_threads=args.threads)
    sample = det(args.img)
    results = sample.pred_instances
    metainfo = model_cfg.get('metainfo') or model_cfg.get(
        'train_dataloader', {}).get('dataset', {}).get('metainfo')
    classes = (metainfo or {}).get('classes')
    print_detections(results, classes, args.score_thr)
    out_file = args.out or osp.join(args.work_dir, 'ort_result.png')
    draw(args.img, sample, metainfo, out_file, args.score_thr,
         args.min_side)
    print(f'drawn to {out_file}')
    if args.compare:
        compare_with_pytorch(det, model, args.img)
    return results


if __name__ == '__main__':
    main()
