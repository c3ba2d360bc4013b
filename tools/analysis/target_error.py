"""How close are the MaskIoU training targets to the IoU they stand for?

The MaskIoU head learns to predict the IoU of the final mask, the
28 x 28 probability map pasted into the image and binarised at
``mask_thr_binary``, with its ground-truth instance. This tool takes the
positive RoIs of a trained MS R-CNN on some images, with their mask
predictions, and compares three numbers per RoI:

* ``true``: that IoU, measured in the image (mmdet's own ``_do_paste_mask``,
  probability >= 0.5, against the whole ground-truth bitmap);
* ``ours``: our training target (probability binarised, the ground truth
  outside the RoI counted exactly);
* ``mmdet``: the target of mmdet's built-in ``MaskIoUHead`` (the logits
  binarised at 0.5, i.e. probability > 0.62, and an area ratio of integer-
  cropped boxes). mmdet also leaves the RoIs whose target is 0 out of its
  loss.

    python tools/analysis/target_error.py CONFIG CHECKPOINT \\
        [--num-batches 25] [--out errors.json]

Prints the mean absolute error and the Pearson correlation of each target
with ``true``, and how many RoIs mmdet's loss leaves out.
"""
import argparse
import copy
import json
import os.path as osp
import sys
from typing import Dict, Iterable, List

import numpy as np
import torch
from mmengine.config import DictAction

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _pasted_ious(probs: torch.Tensor, boxes: torch.Tensor, gt_masks,
                 gt_inds: torch.Tensor, thr: float) -> torch.Tensor:
    """IoU of each RoI's pasted, binarised mask with its whole GT mask."""
    from mmdet.models.roi_heads.mask_heads.fcn_mask_head import \
        _do_paste_mask
    height, width = gt_masks.height, gt_masks.width
    if probs.shape[0] == 0:
        return probs.new_zeros(0)
    pasted, _ = _do_paste_mask(
        probs[:, None], boxes, height, width, skip_empty=False)
    pred = pasted >= thr
    gt = torch.from_numpy(gt_masks.to_ndarray()).to(pred.device).bool()
    gt = gt[gt_inds]
    inter = (pred & gt).flatten(1).sum(1).float()
    union = (pred | gt).flatten(1).sum(1).float()
    return torch.where(union > 0, inter / union.clamp(min=1),
                       torch.zeros_like(union))


def with_ground_truth(pipeline: List[dict]) -> List[dict]:
    """The pipeline, loading boxes, labels and masks if it does not.

    A test pipeline (the nuclei configs') often loads no annotations, since
    the metric reads them from the json; the tool needs them in the
    samples. A ``LoadAnnotations`` step is put right after the image is
    loaded; a pipeline that has one is returned as it is (a copy).

    Args:
        pipeline (list[dict]): Dataset transform configs.

    Returns:
        list[dict]: The transforms, with ground-truth loading.

    Raises:
        ValueError: A pipeline without ``LoadImageFromFile`` (nowhere to
            put the annotation loading).
    """
    steps = [dict(step) for step in pipeline]
    names = [str(step.get('type', '')).split('.')[-1] for step in steps]
    if 'LoadAnnotations' in names:
        return steps
    if 'LoadImageFromFile' not in names:
        raise ValueError(
            f'the pipeline {names} loads no image with LoadImageFromFile: '
            'pass a config whose data pipeline starts from the image files.')
    steps.insert(
        names.index('LoadImageFromFile') + 1,
        dict(type='LoadAnnotations', with_bbox=True, with_mask=True))
    return steps


def check_ground_truth(samples) -> None:
    """Refuse samples without ground-truth boxes, labels and masks.

    Raises:
        ValueError: naming the first sample and what it lacks.
    """
    for sample in samples:
        missing = [
            key for key in ('bboxes', 'labels', 'masks')
            if key not in sample.gt_instances
        ]
        if missing:
            raise ValueError(
                f'{sample.metainfo.get("img_path", "a sample")} has no '
                f'ground-truth {missing}: the data pipeline must load the '
                'annotations (LoadAnnotations with_bbox and with_mask).')


def sample_training_rois(model, inputs, samples):
    """The RoI head's positive and negative RoIs of one training step.

    The steps of mmdet's ``TwoStageDetector.loss`` and
    ``StandardRoIHead.loss`` up to the RoI sampling, called by name.

    Returns:
        tuple: Image features ``x``, the sampling results and the ground
        truth instances per image.
    """
    from mmdet.models.utils import unpack_gt_instances
    check_ground_truth(samples)
    x = model.extract_feat(inputs)
    proposal_cfg = model.train_cfg.get('rpn_proposal', model.test_cfg.rpn)
    rpn_samples = copy.deepcopy(samples)
    for sample in rpn_samples:
        sample.gt_instances.labels = torch.zeros_like(
            sample.gt_instances.labels)
    _, rpn_results = model.rpn_head.loss_and_predict(
        x, rpn_samples, proposal_cfg=proposal_cfg)
    gts, gts_ignore, _ = unpack_gt_instances(samples)
    roi_head = model.roi_head
    sampling_results = []
    for i, rpn in enumerate(rpn_results):
        rpn.priors = rpn.pop('bboxes')
        assigned = roi_head.bbox_assigner.assign(rpn, gts[i], gts_ignore[i])
        sampling_results.append(
            roi_head.bbox_sampler.sample(
                assigned, rpn, gts[i], feats=[lvl[i][None] for lvl in x]))
    return x, sampling_results, gts


@torch.no_grad()
def collect_targets(model, batches: Iterable) -> Dict[str, np.ndarray]:
    """Targets and pasted IoUs of the positive RoIs of some batches.

    Args:
        model (nn.Module): An MS R-CNN with our ``MaskScoringRoIHead``.
        batches (Iterable[tuple]): Preprocessed ``(inputs, data_samples)``
            with ground-truth masks.

    Returns:
        dict[str, np.ndarray]: ``true``, ``ours`` and ``mmdet``, each of
        shape (R,) over all positive RoIs.
    """
    from mmdet.models.roi_heads.mask_heads import \
        MaskIoUHead as MMDetMaskIoUHead

    from mmdet_msrcnn.models import select_class_masks
    roi_head = model.roi_head
    mmdet_head = MMDetMaskIoUHead(num_classes=roi_head.bbox_head.num_classes)
    out: Dict[str, List[torch.Tensor]] = dict(true=[], ours=[], mmdet=[])
    model.train()
    cfg = roi_head.train_cfg
    thr = cfg.get('mask_thr_binary', 0.5)
    for inputs, samples in batches:
        x, results, gts = sample_training_rois(model, inputs, samples)
        mask_results = roi_head.mask_loss(x, results, None, gts)
        labels = torch.cat([r.pos_gt_labels for r in results]).long()
        logits = select_class_masks(mask_results['mask_preds'], labels)
        probs = logits.sigmoid()
        targets = mask_results['mask_targets']
        out['ours'].append(roi_head.mask_iou_head.get_targets(
            probs, targets, results, gts, thr))
        out['mmdet'].append(mmdet_head.get_targets(
            results, gts, logits, targets, cfg))
        start = 0
        for res, gt in zip(results, gts):
            num = res.pos_priors.shape[0]
            out['true'].append(
                _pasted_ious(probs[start:start + num], res.pos_priors,
                             gt.masks, res.pos_assigned_gt_inds, thr))
            start += num
    return {k: torch.cat(v).float().cpu().numpy() for k, v in out.items()}


def summarize(arrays: Dict[str, np.ndarray]) -> Dict[str, float]:
    """Errors of the two targets against the pasted IoU.

    Returns:
        dict[str, float]: ``num_rois``; per target ``{name}_mae`` and
        ``{name}_pearson`` against ``true``; ``mmdet_left_out`` (fraction of
        RoIs with an mmdet target of 0, which its loss skips) and
        ``true_iou_of_left_out`` (their mean true IoU).
    """
    true = arrays['true']
    out = dict(num_rois=int(true.size))
    for name in ('ours', 'mmdet'):
        err = arrays[name] - true
        out[f'{name}_mae'] = float(np.abs(err).mean()) if err.size else 0.0
        out[f'{name}_bias'] = float(err.mean()) if err.size else 0.0
        both = np.stack([arrays[name], true])
        out[f'{name}_pearson'] = float(np.corrcoef(both)[0, 1]) if (
            true.size > 1 and both.std(1).min() > 0) else float('nan')
    left_out = arrays['mmdet'] <= 0
    out['mmdet_left_out'] = float(left_out.mean()) if true.size else 0.0
    out['true_iou_of_left_out'] = float(
        true[left_out].mean()) if left_out.any() else float('nan')
    return out


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='an MS R-CNN config of ours')
    parser.add_argument('checkpoint')
    parser.add_argument(
        '--split',
        choices=('val', 'train'),
        default='val',
        help='images to take the RoIs from (their ground truth is used)')
    parser.add_argument('--num-batches', type=int, default=25)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--out', help='write the summary as json')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config entries')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    sys.path.insert(0, REPO)
    from mmdet.utils import register_all_modules
    from mmengine.config import Config
    from mmengine.runner import Runner
    register_all_modules(init_default_scope=True)
    import mmdet_msrcnn  # noqa: F401
    from msrcnn_benchmark.runs import build_trained_model
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    torch.manual_seed(args.seed)
    model = build_trained_model(cfg, args.checkpoint)
    loader_cfg = cfg.val_dataloader if args.split == 'val' else \
        cfg.train_dataloader
    dataset_cfg = loader_cfg.dataset
    while 'pipeline' not in dataset_cfg and 'dataset' in dataset_cfg:
        dataset_cfg = dataset_cfg.dataset  # a wrapper (RepeatDataset)
    dataset_cfg.pipeline = with_ground_truth(dataset_cfg.pipeline)
    loader = Runner.build_dataloader(loader_cfg, seed=args.seed)
    batches = []
    for i, data in enumerate(loader):
        if i >= args.num_batches:
            break
        data = model.data_preprocessor(data, True)
        batches.append((data['inputs'], data['data_samples']))
    summary = summarize(collect_targets(model, batches))
    for key, value in summary.items():
        print(f'{key:>22}: {value:.4f}' if isinstance(value, float) else
              f'{key:>22}: {value}')
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(summary, f, indent=1)
    return summary


if __name__ == '__main__':
    main()
