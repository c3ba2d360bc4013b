"""Where the time of a step goes: MaskIoU parts and main phases."""
import importlib
import time

import numpy as np
import torch

from .detectors import make_predict, set_score_thr
from .inputs import POS_PER_IMAGE, single_image_batches
from .timing import PhaseTimer, bench, stats, sync


def _capture_mask_iou_calls(model, step) -> dict:
    """Inputs of the MaskIoU head's forward and ``get_targets``, one step.
    """
    head = model.roi_head.mask_iou_head
    captured = {}
    orig_targets = head.get_targets

    def get_targets(*a, **k):
        captured['targets'] = (a, k)
        return orig_targets(*a, **k)

    def pre_hook(module, a):
        # ours passes the RoIs too (and the image crops with image_input)
        captured['forward'] = tuple(x.detach() for x in a)

    head.get_targets = get_targets
    handle = head.register_forward_pre_hook(pre_hook)
    try:
        step.reset()
        step()
    finally:
        handle.remove()
        del head.get_targets
    return captured


def train_breakdown(models, steps, args, device) -> dict:
    """Time the MaskIoU parts of a training step on their captured inputs.

    Args:
        models (dict[str, nn.Module]): The detectors, by name.
        steps (dict[str, TrainStep]): Their training steps.
        args (Namespace): The run's arguments.
        device (torch.device): Synchronised around every run.

    Returns:
        dict: Per MS R-CNN model ``fwd_bwd`` and ``targets`` (ms) and
        ``pos_rois``; ``ours_sweep``: :func:`head_sweep` of ours.
    """
    rows = {}
    for name in ('ours', 'mmdet_ms'):
        if name not in models:
            continue
        head = models[name].roi_head.mask_iou_head
        captured = _capture_mask_iou_calls(models[name], steps[name])
        if 'targets' not in captured:
            continue
        t_args, t_kwargs = captured['targets']
        # ours is also given the RoIs (read by ``box_size_input``) and the
        # image crops (``image_input``)
        feats, masks, *rois = captured['forward']
        # mmdet's MaskIoU loss reaches the mask logits; ours detaches them
        mask_grad = name == 'mmdet_ms'

        def fwd_bwd(head=head, feats=feats, masks=masks, rois=rois,
                    grad=mask_grad):
            f = feats.clone().requires_grad_(True)
            m = masks.clone().requires_grad_(grad)
            head(f, m, *rois).square().mean().backward()
            head.zero_grad(set_to_none=True)

        def targets(head=head, a=t_args, k=t_kwargs):
            return head.get_targets(*a, **k)

        fns = dict(fwd_bwd=fwd_bwd, targets=targets)
        times, _ = bench(fns, args.repeat, max(1, args.warmup), device)
        row = {k: stats(v, 1e3) for k, v in times.items()}
        row['pos_rois'] = int(feats.shape[0])
        rows[name] = row
    if 'ours' in models:
        rows['ours_sweep'] = head_sweep(models['ours'].roi_head.mask_iou_head,
                                        args, device)
    return rows


def head_sweep(head, args, device) -> dict:
    """Our MaskIoU head's forward + backward at more positive RoIs.

    A trained RPN gives up to 128 positives per image (random weights give
    fewer): time the head alone, on random inputs, at 32 and 128 a image.

    Returns:
        dict: RoIs in the batch -> ms.
    """
    out = {}
    shape = (head.in_channels, head.roi_feat_size, head.roi_feat_size)
    for per_img in (32, POS_PER_IMAGE):
        num = per_img * args.train_batch
        feats = torch.randn(num, *shape, device=device)
        masks = torch.rand(num, head.mask_size, head.mask_size, device=device)

        def fwd_bwd(feats=feats, masks=masks):
            head(feats.clone().requires_grad_(True),
                 masks).square().mean().backward()
            head.zero_grad(set_to_none=True)

        times, _ = bench(dict(fwd_bwd=fwd_bwd), min(args.repeat, 2), 0, device)
        out[num] = stats(times['fwd_bwd'], 1e3)
    return out


def _median_ms(per_run) -> dict:
    return {
        k: float(np.median([r.get(k, 0.0) for r in per_run])) * 1e3
        for k in per_run[0]
    }


def _wrap_inference(timer, model, mmcv_nms) -> None:
    rh = model.roi_head
    timer.wrap('backbone+neck', model, 'extract_feat')
    timer.wrap('rpn', model.rpn_head, 'predict')
    timer.wrap('bbox branch (incl. NMS)', rh, 'predict_bbox')
    timer.wrap('  soft_nms (mmcv)', mmcv_nms, 'soft_nms')
    timer.wrap('mask branch', rh, 'predict_mask')
    timer.wrap('  mask head fwd', rh.mask_head, 'forward')
    timer.wrap('  mask paste', rh.mask_head, 'predict_by_feat')
    if hasattr(rh, 'mask_iou_head'):
        timer.wrap('  MaskIoU head fwd', rh.mask_iou_head, 'forward')


def _wrap_train(timer, model, step) -> None:
    rh = model.roi_head
    timer.wrap('backbone+neck', model, 'extract_feat')
    timer.wrap('rpn loss+proposals', model.rpn_head, 'loss_and_predict')
    timer.wrap('roi head loss', rh, 'loss')
    timer.wrap('  bbox loss', rh, 'bbox_loss')
    timer.wrap('  mask loss (incl. MaskIoU)', rh, 'mask_loss')
    timer.wrap('    mask targets+loss', rh.mask_head, 'loss_and_target')
    if hasattr(rh, 'mask_iou_head'):
        timer.wrap('    MaskIoU head fwd', rh.mask_iou_head, 'forward')
        timer.wrap('    MaskIoU targets', rh.mask_iou_head, 'get_targets')
    timer.wrap('backward', torch.Tensor, 'backward')
    timer.wrap('optimizer step', step.optim, 'step')


def phase_breakdown(models, args, device, train_steps) -> dict:
    """Median wall time of the main phases of inference and training.

    Args:
        models (dict[str, nn.Module]): The detectors, by name.
        args (Namespace): The run's arguments.
        device (torch.device): Synchronised around every timed call.
        train_steps (dict[str, TrainStep]): The models' training steps.

    Returns:
        dict: ``inference_b1_100`` and ``train``: model -> phase -> ms.
    """
    mmcv_nms = importlib.import_module('mmcv.ops.nms')
    phase_runs = 1  # a breakdown; the models are warm by now
    out = {}
    data = single_image_batches(models, args)
    for name, m in models.items():
        train_steps[name].reset()  # the initial weights
        m.eval()
        set_score_thr(m, 0.0)
        per_run = []
        for _ in range(phase_runs):
            timer = PhaseTimer(device)
            _wrap_inference(timer, m, mmcv_nms)
            try:
                total = time.perf_counter()
                make_predict(m, data[name])()
                timer.totals['total'] = time.perf_counter() - total
            finally:
                timer.restore()
            per_run.append(timer.totals)
        out.setdefault('inference_b1_100', {})[name] = _median_ms(per_run)
    for name, m in models.items():
        step = train_steps[name]
        per_run = []
        for _ in range(phase_runs):
            step.reset()
            timer = PhaseTimer(device)
            _wrap_train(timer, m, step)
            try:
                total = time.perf_counter()
                step()
                sync(device)
                timer.totals['total'] = time.perf_counter() - total
            finally:
                timer.restore()
            per_run.append(timer.totals)
        out.setdefault('train', {})[name] = _median_ms(per_run)
    return out
