"""Inference, training-step and mask-branch rows of the speed benchmark.
"""
import copy

import numpy as np
import torch

from .detectors import TrainStep, make_predict, set_score_thr
from .inputs import make_batch, single_image_batches
from .timing import CallCounter, bench, stats


def bench_inference(models, args, device, batch, score_thr, seed, warmup):
    """Inference latency per image, the models interleaved.

    Args:
        models (dict[str, nn.Module]): The detectors, by name.
        args (Namespace): ``size``, ``num_gt`` and ``repeat`` of the run.
        device (torch.device): Synchronised around every run.
        batch (int): Images per call.
        score_thr (float): The RoI head's test ``score_thr``.
        seed (int): Seeds the images.
        warmup (int): Untimed runs first.

    Returns:
        tuple[dict, dict]: ms per image by model, and per model
        ``dets_per_img`` and ``proposals`` (RoIs into the bbox head).
    """
    data = {
        name: make_batch(m, batch, args.size, args.num_gt, seed, False)
        for name, m in models.items()
    }
    counters = {}
    for name, m in models.items():
        m.eval()
        set_score_thr(m, score_thr)
        counters[name] = CallCounter(
            dict(proposals=m.roi_head.bbox_head, dets=m.roi_head.mask_head))
    fns = {name: make_predict(m, data[name]) for name, m in models.items()}
    prepare = {name: counters[name].reset for name in models}
    times, last = bench(fns, args.repeat, warmup, device, prepare)
    info = {}
    for name in models:
        counters[name].remove()
        dets = [len(res.pred_instances) for res in last[name]]
        info[name] = dict(
            dets_per_img=float(np.mean(dets)),
            proposals=sum(counters[name].counts['proposals']))
    return {n: stats(t, 1e3 / batch) for n, t in times.items()}, info


def time_train_steps(steps, counters, args, device):
    """Time training steps interleaved, each after its (untimed) resets.

    Args:
        steps (dict[str, TrainStep]): The steps, by name.
        counters (dict[str, CallCounter]): Reset with the step of the same
            name before each run.
        args (Namespace): ``repeat`` and ``warmup`` of the run.
        device (torch.device): Synchronised around every run.

    Returns:
        tuple[dict, dict]: Seconds per run and the last loss, by name.
    """

    def prepare_fn(name):

        def prepare():
            steps[name].reset()
            counters[name].reset()

        return prepare

    prepare = {name: prepare_fn(name) for name in steps}
    return bench(steps, args.repeat, args.warmup, device, prepare)


def bench_train(models, args, device):
    """One training iteration (forward, backward, SGD step) per model.

    Args:
        models (dict[str, nn.Module]): The detectors, by name.
        args (Namespace): ``train_batch``, ``size``, ``num_gt``, ``seed``,
            ``repeat`` and ``warmup`` of the run.
        device (torch.device): Synchronised around every run.

    Returns:
        tuple[dict, dict, dict]: ms per iteration by model; per model
        ``pos_rois`` and ``loss``; the :class:`TrainStep` of each model.
    """
    steps, counters = {}, {}
    for name, m in models.items():
        data = make_batch(m, args.train_batch, args.size, args.num_gt,
                          args.seed, True)
        steps[name] = TrainStep(m, data, args.seed)
        counters[name] = CallCounter(dict(pos_rois=m.roi_head.mask_head))

    times, last = time_train_steps(steps, counters, args, device)
    info = {}
    for name in models:
        counters[name].remove()
        info[name] = dict(
            pos_rois=sum(counters[name].counts['pos_rois']), loss=last[name])
    return {n: stats(t, 1e3) for n, t in times.items()}, info, steps


def _capture_mask_calls(models, steps, args) -> dict:
    """Arguments of one ``mask_loss`` and one ``predict_mask`` per model."""
    captured = {}
    data = single_image_batches(models, args)
    for name, m in models.items():
        rh = m.roi_head
        calls = {}
        for method in ('predict_mask', 'mask_loss'):
            orig = getattr(rh, method)

            def record(*a, _orig=orig, _method=method, **k):
                calls[_method] = (a, k)
                return _orig(*a, **k)

            setattr(rh, method, record)
        try:
            steps[name].reset()  # shared weights, seeded sampling
            m.loss(steps[name].inputs, steps[name].samples)
            m.eval()
            set_score_thr(m, 0.0)
            make_predict(m, data[name])()
        finally:
            del rh.predict_mask, rh.mask_loss
        captured[name] = calls
        p_args, p_kwargs = calls['predict_mask']
        results = p_kwargs.get('results_list',
                               p_args[2] if len(p_args) > 2 else None)
        num_dets = sum(len(r) for r in results)
        if num_dets == 0:
            raise RuntimeError(
                f'{name}: the captured predict_mask call has no detection; '
                'the mask branch would be timed doing no work.')
    return captured


def bench_mask_branch(models, steps, args, device):
    """The mask branch alone, where the three models differ.

    The RoI head's ``predict_mask`` (inference, 100 detections, batch 1) and
    ``mask_loss`` + backward of its losses (training) are replayed on inputs
    captured from one full run, so the parts all three share (backbone, RPN,
    bbox branch, NMS) do not add their noise.

    Args:
        models (dict[str, nn.Module]): The detectors, by name.
        steps (dict[str, TrainStep]): From :func:`bench_train`.
        args (Namespace): The run's arguments.
        device (torch.device): Synchronised around every run.

    Returns:
        dict: ``infer_mask_branch`` and ``train_mask_branch`` rows (ms).
    """
    captured = _capture_mask_calls(models, steps, args)
    infer, train, prepare_i, prepare_t = {}, {}, {}, {}
    for name, m in models.items():
        rh = m.roi_head
        (p_args, p_kwargs) = captured[name]['predict_mask']
        l_args, l_kwargs = captured[name]['mask_loss']
        # fresh leaf features: the backward reaches them through RoIAlign
        x = tuple(t.detach().requires_grad_(True) for t in l_args[0])
        l_args = (x, ) + tuple(l_args[1:])
        state = {}

        def prep_infer(m=m, a=p_args, k=p_kwargs, state=state):
            m.eval()
            state['infer'] = (copy.deepcopy(a), k)

        def run_infer(rh=rh, state=state):
            a, k = state['infer']
            with torch.no_grad():
                return rh.predict_mask(*a, **k)

        def prep_train(m=m, x=x, state=state):
            m.train()
            m.zero_grad(set_to_none=True)
            for t in x:
                t.grad = None
            torch.manual_seed(args.seed)

        def run_train(rh=rh, a=l_args, k=l_kwargs):
            losses = rh.mask_loss(*a, **k)['loss_mask']
            sum(v.sum() for v in losses.values()).backward()

        infer[name], prepare_i[name] = run_infer, prep_infer
        train[name], prepare_t[name] = run_train, prep_train
    # warm-up: the first replay allocates its buffers
    t_infer, _ = bench(infer, args.repeat, args.warmup, device, prepare_i)
    t_train, _ = bench(train, args.repeat, args.warmup, device, prepare_t)
    for name, m in models.items():
        steps[name].reset()
        m.zero_grad(set_to_none=True)
    return dict(
        infer_mask_branch={
            n: stats(t, 1e3)
            for n, t in t_infer.items()
        },
        train_mask_branch={
            n: stats(t, 1e3)
            for n, t in t_train.items()
        })
