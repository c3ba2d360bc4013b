"""Do the masks that change when their box moves a little score worse?

The MaskIoU head sees one RoI. A mask whose shape depends on exactly where
the box lies (a nucleus cut at the box border, two touching nuclei merged
or split) may be a worse mask than one the mask head draws the same from
any nearby box, and the head cannot see that from one view. This tool
measures it on one trained model, with nothing trained: per detection it
runs the mask head again on the box moved by a few fixed jitters
(:data:`JITTERS`), pastes and binarises each mask as mmdet does (the
test config's ``mask_thr_binary``) and takes its IoU with the detection's
own mask; it also runs the whole model on the image mirrored left to
right and takes the agreement of the mask drawn there for the mirrored
box, mirrored back (features that differ at every layer, the same
pixels). The agreements, as :data:`CUE_NAMES` (the mean over the four
shifts, the grown box, the shrunk box, the mirrored image), are written per
detection in the order of the ``MaskQualityMetric`` dump of the same model
and images, for ``tools/analysis/image_cue_rescoring.py --cue-files``.

    python tools/analysis/jitter_consistency.py CONFIG CHECKPOINT \\
        --split train --indices 100 200 --out fit_jitter.npz \\
        [--data-root ../shared/datasets/dsb2018_nuclei/] [--img-dir images/]

Every image also gets the unjittered box once: the agreement of the mask
that gives with the detection's own mask must be about 1 (the tool stops
otherwise), which checks that the pasting reproduces the model's masks.
"""
import argparse
import os.path as osp
import sys
from typing import Dict, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

#: Box jitters ``(dx, dy, scale)``: the centre moves by ``dx`` widths and
#: ``dy`` heights, the size is multiplied by ``scale``. Fixed before any
#: run; the first, the identity, is the reproduction check.
JITTERS = ((0., 0., 1.), (0.1, 0., 1.), (-0.1, 0., 1.), (0., 0.1, 1.),
           (0., -0.1, 1.), (0., 0., 1.2), (0., 0., 0.85))
#: Cues written per detection: the mean agreement over the shifts, the
#: agreement with the grown box, with the shrunk box, with the mask drawn
#: on the mirrored image.
CUE_NAMES = ('shift_agreement', 'grow_agreement', 'shrink_agreement',
             'flip_agreement')
#: The least mean agreement of the unjittered box that passes the check.
REPRODUCTION_MIN = 0.99


def moved_boxes(
        boxes: Tensor,
        jitters: Sequence[Tuple[float, float, float]] = JITTERS) -> Tensor:
    """Every box moved and resized by every jitter.

    Args:
        boxes (Tensor): (N, 4) boxes ``x1, y1, x2, y2``.
        jitters: K ``(dx, dy, scale)``, see :data:`JITTERS`.

    Returns:
        Tensor: (K, N, 4) jittered boxes.
    """
    width = boxes[:, 2] - boxes[:, 0]
    height = boxes[:, 3] - boxes[:, 1]
    cx = (boxes[:, 0] + boxes[:, 2]) / 2
    cy = (boxes[:, 1] + boxes[:, 3]) / 2
    out = []
    for dx, dy, scale in jitters:
        x, y = cx + dx * width, cy + dy * height
        half_w, half_h = scale * width / 2, scale * height / 2
        out.append(
            torch.stack([x - half_w, y - half_h, x + half_w, y + half_h],
                        dim=1))
    return torch.stack(out)


def mirror_boxes(boxes: Tensor, width: int) -> Tensor:
    """(N, 4) boxes of an image of ``width`` columns mirrored left-right."""
    return torch.stack(
        [width - boxes[:, 2], boxes[:, 1], width - boxes[:, 0], boxes[:, 3]],
        dim=1)


def group_agreements(
        agreement: Tensor,
        jitters: Sequence[Tuple[float, float, float]] = JITTERS) -> Tensor:
    """The cues of :data:`CUE_NAMES` from the agreement of each jitter.

    Args:
        agreement (Tensor): (K, N) IoU of each jitter's mask with the
            detection's own mask.
        jitters: the K jitters it was computed with.

    Returns:
        Tensor: (N, 3) mean over the pure shifts (scale 1, not the
        identity), mean over the grown boxes (scale > 1), mean over the
        shrunk boxes (scale < 1).

    Raises:
        ValueError: a group with no jitter.
    """
    groups = (
        [k for k, j in enumerate(jitters) if j[2] == 1 and j[:2] != (0, 0)],
        [k for k, j in enumerate(jitters) if j[2] > 1],
        [k for k, j in enumerate(jitters) if j[2] < 1],
    )
    for name, group in zip(CUE_NAMES, groups):
        if not group:
            raise ValueError(f'no jitter gives {name}: add one to the '
                             'jitters (a shift, scale > 1 and scale < 1).')
    return torch.stack([agreement[g].mean(0) for g in groups], dim=1)


def mask_probs(roi_head, x, rois: Tensor, labels: Tensor) -> Tensor:
    """(N, S, S) mask probabilities of the RoIs' classes."""
    from mmdet_msrcnn.models import select_class_masks
    preds = roi_head._mask_forward(x, rois)['mask_preds']
    return select_class_masks(preds, labels).sigmoid()


def pasted_agreement(probs: Tensor, boxes: Tensor, own_masks: Tensor,
                     threshold: float) -> Tensor:
    """IoU of each jitter's pasted mask with the detection's own mask.

    Args:
        probs (Tensor): (K, N, S, S) mask probabilities of the jittered
            boxes (the detection's class).
        boxes (Tensor): (K, N, 4) the jittered boxes in the image's pixels.
        own_masks (Tensor): (N, H, W) bool, the detection's own masks.
        threshold (float): a pasted probability at least this is in the
            mask (mmdet's ``mask_thr_binary``).

    Returns:
        Tensor: (K, N) IoU; 1 where both masks are empty.
    """
    from mmdet.models.roi_heads.mask_heads.fcn_mask_head import \
        _do_paste_mask
    num_jitters, num = probs.shape[:2]
    height, width = own_masks.shape[1:]
    own_area = own_masks.flatten(1).sum(1).float()
    out = probs.new_ones(num_jitters, num)
    for n in range(num):
        pasted, (rows, cols) = _do_paste_mask(
            probs[:, n, None], boxes[:, n], height, width, skip_empty=True)
        pred = pasted >= threshold
        own = own_masks[n, rows, cols]
        inter = (pred & own).flatten(1).sum(1).float()
        union = pred.flatten(1).sum(1).float() + own_area[n] - inter
        out[:, n] = torch.where(union > 0, inter / union.clamp(min=1),
                                torch.ones_like(union))
    return out


@torch.no_grad()
def image_agreements(model, inputs: Tensor, samples: list) -> list:
    """Predict a batch and the agreement of every detection's mask.

    Returns:
        list[dict]: per image ``img_id``, ``scores`` (N,), ``agreement``
        (K, N) for the K :data:`JITTERS` and ``flip`` (N,), the agreement
        with the mask of the mirrored image, in the order of the model's
        predictions (that of the metric's dump).
    """
    from mmdet.structures.bbox import bbox2roi
    roi_head = model.roi_head
    x = model.extract_feat(inputs)
    proposals = model.rpn_head.predict(x, samples, rescale=False)
    results = roi_head.predict(x, proposals, samples, rescale=True)
    # the padded batch mirrored: a box at x in the input is at width - x
    mirrored = model.extract_feat(torch.flip(inputs, dims=[-1]))
    width = inputs.shape[-1]
    threshold = roi_head.test_cfg.mask_thr_binary
    out = []
    for index, (sample, res) in enumerate(zip(samples, results)):
        num = len(res)
        agreement, flip = torch.ones(len(JITTERS), num), torch.ones(num)
        if num:
            own = res.masks.bool()
            boxes = moved_boxes(res.bboxes)  # image pixels
            factor = res.bboxes.new_tensor(
                sample.metainfo['scale_factor']).repeat(2)
            rois = bbox2roi([(boxes * factor).flatten(0, 1)])
            rois[:, 0] = index
            probs = mask_probs(roi_head, x, rois,
                               res.labels.repeat(len(JITTERS)))
            agreement = pasted_agreement(
                probs.view(len(JITTERS), num, *probs.shape[-2:]), boxes, own,
                threshold)
            rois = bbox2roi([mirror_boxes(res.bboxes * factor, width)])
            rois[:, 0] = index
            probs = mask_probs(roi_head, mirrored, rois, res.labels).flip(-1)
            flip = pasted_agreement(probs[None], res.bboxes[None], own,
                                    threshold)[0]
        out.append(
            dict(
                img_id=sample.metainfo['img_id'],
                scores=res.scores.numpy(),
                agreement=agreement,
                flip=flip))
    return out


def collect(model, loader) -> Dict[str, np.ndarray]:
    """Agreements of every detection of ``loader``'s images.

    Returns:
        dict: ``img_id`` (M,), ``score`` (M,), ``cues`` (M, 4) by
        :data:`CUE_NAMES`, ``agreement`` (M, K) by :data:`JITTERS`.

    Raises:
        SystemExit: the unjittered box does not reproduce the masks.
    """
    img_ids, scores, agreements, flips = [], [], [], []
    for data in loader:
        data = model.data_preprocessor(data, False)
        for res in image_agreements(model, data['inputs'],
                                    data['data_samples']):
            img_ids.append(np.full(len(res['scores']), res['img_id']))
            scores.append(res['scores'])
            agreements.append(res['agreement'])
            flips.append(res['flip'])
    agreement = torch.cat(agreements, dim=1)
    cues = torch.cat([group_agreements(agreement),
                      torch.cat(flips)[:, None]],
                     dim=1)
    if agreement.shape[1] and agreement[0].mean() < REPRODUCTION_MIN:
        raise SystemExit(
            f'the unjittered boxes give masks that agree '
            f'{agreement[0].mean():.3f} with the model\'s own: the pasting '
            'does not reproduce them (a host whose masks are not its mask '
            "head's of the final boxes is not supported).")
    return dict(
        img_id=np.concatenate(img_ids).astype(np.int64),
        score=np.concatenate(scores).astype(np.float64),
        cues=cues.numpy().astype(np.float64),
        agreement=agreement.T.numpy().astype(np.float64))


def check_host(model) -> None:
    """Refuse a model whose masks are not one mask head's on its boxes.

    Raises:
        SystemExit: no RoI mask head, or one per stage (Cascade, HTC).
    """
    mask_head = getattr(getattr(model, 'roi_head', None), 'mask_head', None)
    if mask_head is None or isinstance(mask_head, torch.nn.ModuleList):
        raise SystemExit(
            f'{type(model).__name__}: the tool reruns one RoI mask head on '
            'moved boxes (a Mask R-CNN-type model); a model without one, or '
            'with one per stage (Cascade, HTC), is not supported.')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='the scored model\'s config')
    parser.add_argument('checkpoint')
    parser.add_argument('--split', choices=('train', 'val'), default='val')
    parser.add_argument(
        '--indices',
        type=int,
        nargs=2,
        metavar=('A', 'B'),
        help='images A..B-1 of the split (default: all)')
    parser.add_argument(
        '--data-root', default='../shared/datasets/dsb2018_nuclei/')
    parser.add_argument(
        '--img-dir',
        default='images/',
        help="image folder under the data root, '{split}' replaced")
    parser.add_argument('--out', required=True, help='npz to write')
    return parser.parse_args(argv)


def main(argv=None) -> Dict[str, np.ndarray]:
    args = parse_args(argv)
    sys.path.insert(0, REPO)
    from mmdet.utils import register_all_modules
    from mmengine.config import Config
    from mmengine.runner import Runner
    register_all_modules(init_default_scope=True)
    import mmdet_msrcnn  # noqa: F401
    from msrcnn_benchmark.runs import build_trained_model, point_at_split
    cfg = Config.fromfile(args.config)
    model = build_trained_model(cfg, args.checkpoint)
    check_host(model)
    model.eval()
    root = args.data_root.rstrip('/') + '/'
    loader_cfg = cfg.test_dataloader
    point_at_split(loader_cfg.dataset, root, args.split, args.img_dir,
                   list(range(*args.indices)) if args.indices else None)
    arrays = collect(model, Runner.build_dataloader(loader_cfg))
    np.savez(args.out, cue_names=np.asarray(CUE_NAMES), **arrays)
    print(f'{len(arrays["score"])} detections of '
          f'{len(set(arrays["img_id"].tolist()))} images; mean agreement '
          'per jitter ' +
          ', '.join(f'{j}: {v:.3f}'
                    for j, v in zip(JITTERS, arrays['agreement'].mean(0))) +
          f', mirrored image: {arrays["cues"][:, 3].mean():.3f}')
    return arrays


if __name__ == '__main__':
    main()
