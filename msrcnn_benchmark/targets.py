"""MaskIoU target rows of the speed benchmark and the per-RoI loop check.
"""
from types import SimpleNamespace

import torch

from .inputs import target_case
from .profiling import python_calls_in_ours
from .rows import TARGET_KINDS, TARGET_ROIS
from .timing import bench, stats


def bench_targets(args, device) -> dict:
    """MaskIoU target computation alone: ours against mmdet's.

    Args:
        args (Namespace): ``size``, ``num_gt``, ``seed``, ``repeat`` and
            ``warmup`` of the run.
        device (torch.device): Where the heads and cases go.

    Returns:
        dict: ``targets_<kind>_<num>`` -> ms by implementation.
    """
    from mmdet.models.roi_heads.mask_heads import \
        MaskIoUHead as MMDetMaskIoUHead
    from mmengine.config import ConfigDict

    from mmdet_msrcnn.models.mask_heads import MaskIoUHead
    ours = MaskIoUHead(num_classes=80).to(device)
    theirs = MMDetMaskIoUHead(num_classes=80).to(device)
    train_cfg = ConfigDict(mask_thr_binary=0.5)
    rows = {}
    for kind in TARGET_KINDS:
        for num in TARGET_ROIS:
            case = target_case(num, kind, args.size, args.num_gt, args.seed,
                               device)

            def run_ours(case=case):
                return ours.get_targets(case['probs'], case['mask_targets'],
                                        case['sampling_results'], case['gts'],
                                        0.5)

            def run_theirs(case=case):
                return theirs.get_targets(case['sampling_results'],
                                          case['gts'], case['logits'],
                                          case['mask_targets'], train_cfg)

            times, _ = bench(
                dict(ours=run_ours, mmdet_ms=run_theirs), args.repeat,
                args.warmup, device)
            rows[f'targets_{kind}_{num}'] = {
                n: stats(t, 1e3)
                for n, t in times.items()
            }
    return rows


def per_roi_loop_check(args, device) -> dict:
    """Our MaskIoU head's Python call count must not grow with the RoIs.

    Forward, targets, loss + backward and ``predict_mask_ious`` of a small
    head at 64 and at 2048 RoIs on one image.

    Returns:
        dict: Ground-truth kind -> {RoIs: Python calls in mmdet_msrcnn}.
    """
    from mmdet_msrcnn.models.mask_heads import MaskIoUHead
    head = MaskIoUHead(
        num_classes=80, in_channels=8, conv_out_channels=8,
        fc_out_channels=16).to(device)
    out = {}
    for kind in TARGET_KINDS:
        counts = {}
        for num in (64, 2048):
            case = target_case(num, kind, args.size, args.num_gt, args.seed,
                               device)
            # same number of images for both sizes: only the RoIs differ
            case['sampling_results'] = [
                SimpleNamespace(
                    pos_priors=torch.cat(
                        [r.pos_priors for r in case['sampling_results']]),
                    pos_assigned_gt_inds=torch.cat([
                        r.pos_assigned_gt_inds.clamp(max=args.num_gt - 1)
                        for r in case['sampling_results']
                    ]))
            ]
            case['gts'] = case['gts'][:1]
            feats = torch.randn(num, 8, 14, 14, device=device)
            labels = torch.randint(0, 80, (num, ), device=device)

            def run(case=case, feats=feats, labels=labels):
                preds = head(feats, case['probs'])
                targets = head.get_targets(case['probs'], case['mask_targets'],
                                           case['sampling_results'],
                                           case['gts'])
                head.loss(preds, targets, labels)['loss_mask_iou'].backward()
                results = SimpleNamespace(
                    labels=labels, scores=torch.rand(num, device=device))
                head.predict_mask_ious([preds.detach()], [results])

            run()  # first call imports / caches
            counts[num] = python_calls_in_ours(run)
        out[kind] = counts
    return out
