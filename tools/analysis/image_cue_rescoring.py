"""Do the image's pixels hold what the MaskIoU head misses about its masks?

Reads two ``MaskQualityMetric`` dumps with masks of one detector scored by
one head: ``--fit``, of *training* images (never the reported split), and
``--eval``. Per detection it computes the image cues of
``mmdet_msrcnn.evaluation.functional.image_cues`` (the agreement of the
mask with the image around it: local contrast, the Otsu blob it lies on,
the gradient on its boundary), then fits on ``--fit`` two corrections of
the predicted MaskIoU (ridge least squares of the true IoU over the
detections above ``--score-thr``, weighted by their classification score):

- ``refit``: from the head's own outputs only (predicted IoU, its square,
  maskness): what a recalibration alone buys;
- ``refit + cues``: the same plus the cues and their products with the
  predicted IoU: what the image adds to it.

On ``--eval`` it prints, as ``tools/analysis/headroom_bootstrap.py`` (whose
rows it reuses, image resamples paired), the AP / AP75 and headroom share
of ``cls``, ``cls x maskness``, the head's mask score, ``cls x refit``,
``cls x (refit + cues)`` and the oracle, with the paired differences from
the head, and the Pearson correlation of each estimate with the true IoU
over the hits (all, and those above cls 0.5, which decide AP). A gain of ``refit + cues`` over ``refit`` that stands out of
the image noise says the head's input lacks information that the image
holds (a reason to feed it the image); none says the limit is elsewhere.

    python tools/analysis/image_cue_rescoring.py \\
        --fit train_dets.npz --fit-ann annotations/instances_train.json \\
        --eval val_dets.npz --eval-ann annotations/instances_val.json \\
        --img-dir data/images [--boot 1000] [--out rescoring.json]

Images are read from ``--img-dir`` by the ``file_name`` of the annotation
file; masks must be dumped at the images' resolution (the metric does).

``--cue-files FIT EVAL`` reads other per-detection cues, written in the
order of the two dumps (``tools/analysis/jitter_consistency.py``: how much
each mask changes when its box moves), and ``--cues files`` fits
``refit + cues`` with those instead of the image cues, ``--cues both``
with both; ``--image-cues NAME ...`` keeps only some image cues.
"""
import argparse
import json
import os.path as osp
import sys
from typing import Dict, List, Optional

import cv2
import numpy as np

from mmdet_msrcnn.evaluation.functional import (IMAGE_CUE_NAMES,
                                                correlation_above_scores,
                                                fit_iou_corrector, load_coco,
                                                mask_image_cues)

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from headroom_bootstrap import (bootstrap_rows, load_dumps,  # noqa: E402
                                print_rows)

#: Names of the two corrections, as printed.
CORRECTIONS = ('refit', 'refit + cues')
#: The classification score above which hits count as confident.
CONFIDENT = 0.5


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--fit', required=True, help='dump (with masks) of '
                        'training images: the corrections are fitted here')
    parser.add_argument('--fit-ann', required=True,
                        help='COCO annotation json of the --fit images')
    parser.add_argument('--eval', required=True,
                        help='dump (with masks) the corrections are tested on')
    parser.add_argument('--eval-ann', required=True,
                        help='COCO annotation json of the --eval images')
    parser.add_argument('--img-dir', required=True,
                        help='folder of the images (by file_name)')
    parser.add_argument('--boot', type=int, default=1000,
                        help='image resamples')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--max-dets', type=int, default=1000,
                        help='detections per image (COCOeval maxDets)')
    parser.add_argument('--score-thr', type=float, default=0.05,
                        help='detections above it are fitted, and count as '
                        'hits for the correlations (as the metric)')
    parser.add_argument('--ridge', type=float, default=1e-3)
    parser.add_argument('--out', help='write the rows as json')
    parser.add_argument(
        '--cue-files', nargs=2, metavar=('FIT', 'EVAL'),
        help='npz of per-detection cues (key cues, with img_id and score '
        'to check the order) of the --fit and --eval dumps')
    parser.add_argument(
        '--cues', choices=('image', 'files', 'both'), default='image',
        help="the cues of 'refit + cues': the image cues, those of "
        '--cue-files, or both')
    parser.add_argument(
        '--image-cues', nargs='+', choices=IMAGE_CUE_NAMES,
        default=list(IMAGE_CUE_NAMES),
        help='the image cues used (default: all), to see which one '
        'carries the gain')
    parser.add_argument(
        '--file-cues', nargs='+', metavar='NAME',
        help="the cues of --cue-files used, by the files' cue_names "
        '(default: all)')
    args = parser.parse_args(argv)
    if args.cues != 'image' and args.cue_files is None:
        parser.error(f'--cues {args.cues} reads --cue-files FIT EVAL: '
                     'pass them (tools/analysis/jitter_consistency.py '
                     'writes them).')
    if args.file_cues and args.cues == 'image':
        parser.error('--file-cues selects cues of --cue-files: pass '
                     '--cues files or --cues both with it.')
    if args.cues == 'files' and args.image_cues != list(IMAGE_CUE_NAMES):
        parser.error('--image-cues selects image cues, which --cues files '
                     'does not use: pass --cues image or --cues both.')
    if osp.abspath(args.fit) == osp.abspath(args.eval):
        parser.error('--fit and --eval are the same dump: fit on training '
                     'images, evaluate on others.')
    if args.boot < 1:
        parser.error(f'--boot must be at least 1, got {args.boot}')
    return args


def dump_cues(records: Dict[str, object], coco_api,
              img_dir: str) -> np.ndarray:
    """(N, 3) image cues of every dumped mask, read image by image."""
    cues = np.zeros((len(records['score']), 3))
    for img_id in np.unique(records['img_id']):
        info = coco_api.imgs.get(int(img_id))
        if info is None:
            raise SystemExit(f'image id {img_id} of the dump is not in the '
                             'annotation file: pass the annotations of the '
                             "dump's images.")
        path = osp.join(img_dir, info['file_name'])
        image = cv2.imread(path, cv2.IMREAD_GRAYSCALE)
        if image is None:
            raise SystemExit(f'cannot read {path}: pass the folder of the '
                             "annotation file's images as --img-dir.")
        index = np.nonzero(records['img_id'] == img_id)[0]
        cues[index] = mask_image_cues(image,
                                      [records['rles'][i] for i in index])
    return cues


def file_cues(path: str, records: Dict[str, object],
              names: Optional[List[str]] = None) -> np.ndarray:
    """(N, C) cues of ``path``, checked to follow the dump's detections.

    Args:
        path (str): npz with ``cues`` (N, C), ``img_id`` and ``score``
            (N,), and, to select by ``names``, ``cue_names`` (C,).
        records (dict): the dump the cues belong to.
        names (list[str], optional): keep these cues, in this order.

    Raises:
        SystemExit: a file whose detections (image ids and scores, in
        order) are not the dump's, or a name it lacks.
    """
    with np.load(path) as data:
        cues, img_id, score = data['cues'], data['img_id'], data['score']
        known = [str(n) for n in data['cue_names']] \
            if 'cue_names' in data.files else []
    if names:
        missing = [n for n in names if n not in known]
        if missing:
            raise SystemExit(f'{path} has no cue {missing} (it has '
                             f'{known}): pass --file-cues from those.')
        cues = cues[:, [known.index(n) for n in names]]
    if len(img_id) != len(records['img_id']) or not (
            np.array_equal(img_id, records['img_id'])
            and np.allclose(score, records['score'], atol=1e-6)):
        raise SystemExit(
            f'{path}: its {len(img_id)} detections are not the dump\'s '
            f'{len(records["img_id"])} in order: compute the cues with the '
            "dump's model on the dump's images.")
    return cues


def correction_inputs(records: Dict[str, object], cues=None) -> np.ndarray:
    """Inputs of a correction: the head's outputs, then the cues if given.

    Returns:
        np.ndarray: (N, 3) predicted IoU, its square and maskness; with
        ``cues`` (N, 3) also the cues and their products with the
        predicted IoU, (N, 9).
    """
    pred = np.clip(records['pred_iou'], 0., 1.)
    maskness = records['maskness']
    if np.isnan(maskness).any():
        raise SystemExit('the dump has no maskness (written before it was '
                         'recorded): evaluate again with MaskQualityMetric.')
    columns = [pred, pred**2, maskness]
    if cues is not None:
        columns += list(cues.T) + list((pred[:, None] * cues).T)
    return np.stack(columns, axis=1)


def corrected_dumps(fit, fit_cues, evaluated, eval_cues,
                    args) -> List[Dict[str, object]]:
    """``evaluated`` rescored by each correction fitted on ``fit``."""
    keep = fit['score'] > args.score_thr
    out = []
    for name, use_cues in zip(CORRECTIONS, (False, True)):
        corrector = fit_iou_corrector(
            correction_inputs(fit, fit_cues if use_cues else None)[keep],
            fit['true_iou'][keep], fit['score'][keep], args.ridge)
        iou = corrector.predict(
            correction_inputs(evaluated, eval_cues if use_cues else None))
        out.append(dict(evaluated, pred_iou=iou,
                        mask_score=evaluated['score'] * iou))
    return out


def hit_correlations(dumps, names, score_thr,
                     confident: float = CONFIDENT) -> Dict[str, dict]:
    """Pearson of each estimate with the true IoU over the hits.

    Returns:
        dict[str, dict]: Per estimate, ``all`` (the hits above
        ``score_thr``) and ``confident`` (those above cls ``confident``,
        which decide AP).
    """
    first = dumps[0]
    out = {}
    for name, records in zip(names, dumps):
        pearson = correlation_above_scores(
            first['score'], first['true_iou'],
            np.clip(records['pred_iou'], 0., 1.),
            thresholds=(score_thr, confident))['pearson']
        out[name] = dict(all=float(pearson[0]), confident=float(pearson[1]))
    return out


def main(argv=None) -> List[dict]:
    args = parse_args(argv)
    fit, evaluated = load_dumps([args.fit]) + load_dumps([args.eval])
    eval_coco = load_coco(args.eval_ann)
    fit_cues, eval_cues = [], []
    if args.cues != 'files':
        used = [IMAGE_CUE_NAMES.index(name) for name in args.image_cues]
        fit_cues.append(dump_cues(fit, load_coco(args.fit_ann),
                                  args.img_dir)[:, used])
        eval_cues.append(dump_cues(evaluated, eval_coco,
                                   args.img_dir)[:, used])
    if args.cues != 'image':
        fit_cues.append(file_cues(args.cue_files[0], fit, args.file_cues))
        eval_cues.append(
            file_cues(args.cue_files[1], evaluated, args.file_cues))
    fit_cues = np.concatenate(fit_cues, axis=1)
    eval_cues = np.concatenate(eval_cues, axis=1)
    dumps = [evaluated] + corrected_dumps(fit, fit_cues, evaluated,
                                          eval_cues, args)
    names = ['head'] + list(CORRECTIONS)
    rows = bootstrap_rows(dumps, names, eval_coco, args,
                          extra_pairs=[CORRECTIONS[::-1]])
    pearson = hit_correlations(dumps, names, args.score_thr)
    print(f'fitted on {int((fit["score"] > args.score_thr).sum())} '
          f'detections of {len(set(fit["img_id"].tolist()))} images; '
          f'evaluated on {len(evaluated["score"])} detections of '
          f'{len(set(evaluated["img_id"].tolist()))} images')
    for key, what in (('all', 'the hits'),
                      ('confident', f'the hits above cls {CONFIDENT:g}')):
        print(f'Pearson with the true IoU over {what}: ' + ', '.join(
            f'{name} {value[key]:.3f}' for name, value in pearson.items()))
    print_rows(rows, args.boot)
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(dict(pearson_hits=pearson, rows=rows), f, indent=1)
    return rows


if __name__ == '__main__':
    main()
