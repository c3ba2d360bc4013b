"""How much of a paired headroom share is the luck of the evaluated images.

Reads ``MaskQualityMetric`` dumps that hold the masks (``dump_file=...``)
of one detector's detections, scored by one or more heads (e.g. the
``val_dets.npz`` of two configs of ``tools/benchmark/upgrade_screen.py`` on
one checkpoint), and resamples the evaluated images with replacement
(``mmdet_msrcnn.evaluation.functional.bootstrap``). On every resample, the
same for every ranking, it recomputes the segm AP and AP75 of

- the classification score (``cls``), ``cls x maskness`` (where dumped) and
  ``cls x true IoU`` (``oracle``), from the first dump;
- each dump's mask score (``cls x predicted MaskIoU``),

and per mask-score ranking the share of the oracle headroom it recovers.
It prints each value on all images with its bootstrap standard deviation
and 95 % percentile interval; then the paired difference of every dump
after the first from the first, and of every dump from ``cls x maskness``
(the zero-cost ranking a head must beat), with the share of resamples in
which its AP is the higher, and between two dumps the correlation of the
heads' errors on the hits (near 1: they err alike). Nothing is fitted: it
tells a reader whether a share, or a difference between two heads scoring
the same masks, stands out of the noise of *which images* were evaluated
(not of training the heads again, which it cannot see).

    python tools/analysis/headroom_bootstrap.py A/val_dets.npz \\
        [B/val_dets.npz ...] --ann-file data/annotations/instances_val.json \\
        [--names A B] [--boot 1000] [--max-dets 1000] [--per-iou] \\
        [--out boot.json]

``--per-iou`` also prints, per IoU threshold 0.5 ... 0.95, every ranking's
AP and each mask score's share of the headroom with its interval: where on
the IoU scale a head gains (strict thresholds) or loses (AP50).

All dumps must hold the same detections (images, classes, cls scores,
masks): they are scorings of one set of masks. The AP is over the images
of the dumps (those with at least one detection), as
``tools/analysis/headroom_curve.py``.
"""
import argparse
import json
import os.path as osp
from typing import Dict, List

import numpy as np

from mmdet_msrcnn.evaluation.functional import (IOU_THRS, ap_and_ap75,
                                                bootstrap_ap, correlations,
                                                headroom_share, interval,
                                                load_coco, load_records,
                                                resampled_ap_per_iou,
                                                segm_matches)

#: Arrays that must agree between dumps of one set of masks.
SAME_KEYS = ('img_id', 'category_id', 'score', 'true_iou')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('dumps', nargs='+', help='MaskQualityMetric dumps '
                        'with the masks (.npz or .json), of one detector')
    parser.add_argument('--ann-file', required=True,
                        help='COCO annotation json of the dumped images')
    parser.add_argument('--names', nargs='+',
                        help='a name per dump (default: its folder name)')
    parser.add_argument('--boot', type=int, default=1000,
                        help='image resamples')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--max-dets', type=int, default=100,
                        help='detections per image (COCOeval maxDets)')
    parser.add_argument('--score-thr', type=float, default=0.05,
                        help='detections above it count as hits for the '
                        'error correlation (as the metric)')
    parser.add_argument('--per-iou', action='store_true',
                        help='also the AP and the headroom share at each '
                        'IoU threshold')
    parser.add_argument('--out', help='write the rows as json')
    args = parser.parse_args(argv)
    if args.boot < 1:
        parser.error(f'--boot must be at least 1, got {args.boot}')
    if args.names is not None and len(args.names) != len(args.dumps):
        parser.error(f'{len(args.names)} --names for {len(args.dumps)} '
                     'dumps: give one name per dump, or none')
    if args.names is not None and len(set(args.names)) != len(args.names):
        parser.error(f'--names must differ, got {args.names}')
    return args


def dump_names(dumps: List[str]) -> List[str]:
    """The folder name of each dump, or its path where folders repeat."""
    names = [osp.basename(osp.dirname(osp.abspath(d))) for d in dumps]
    return names if len(set(names)) == len(names) else list(dumps)


def check_same_detections(first: Dict[str, object],
                          other: Dict[str, object], path: str) -> None:
    """Refuse a dump that does not score the first dump's masks.

    Raises:
        SystemExit: Another number of detections, or other images,
            classes, cls scores, true IoUs or masks.
    """
    if len(other['score']) != len(first['score']):
        raise SystemExit(
            f'{path}: {len(other["score"])} detections, the first dump has '
            f'{len(first["score"])}: bootstrap only dumps of one detector '
            "(the same checkpoint's masks, scored by different heads).")
    for key in SAME_KEYS:
        if not np.array_equal(other[key], first[key]):
            raise SystemExit(
                f'{path}: its {key} differs from the first dump: bootstrap '
                "only dumps of one detector's detections.")
    if other['rles'] != first['rles']:
        raise SystemExit(f'{path}: its masks differ from the first dump: '
                         "bootstrap only dumps of one detector's masks.")


def load_dumps(paths: List[str]) -> List[Dict[str, object]]:
    """Load and check the dumps (masks and predicted MaskIoUs present)."""
    dumps = []
    for path in paths:
        records = load_records(path)
        if 'rles' not in records:
            raise SystemExit(
                f'{path}: no masks in the dump (written before masks were '
                'dumped); evaluate again with MaskQualityMetric(dump_file=).')
        if not len(records['score']):
            raise SystemExit(f'{path}: no detections to resample.')
        if dumps:
            check_same_detections(dumps[0], records, path)
        dumps.append(records)
    return dumps


def rankings(dumps: List[Dict[str, object]],
             names: List[str]) -> Dict[str, np.ndarray]:
    """Scores of every ranking: cls, maskness, oracle, each mask score."""
    first = dumps[0]
    out = dict(cls=first['score'])
    if not np.isnan(first['maskness']).any():
        out['cls x maskness'] = first['score'] * first['maskness']
    out['oracle'] = first['score'] * first['true_iou']
    for name, records in zip(names, dumps):
        out[name] = records['mask_score']
    return out


def summary(point: float, samples: np.ndarray) -> dict:
    """A value on all images, its bootstrap std and 95 % interval."""
    low, high = interval(samples)
    finite = samples[np.isfinite(samples)]
    return dict(value=float(point),
                std=float(finite.std(ddof=1)) if len(finite) > 1 else
                float('nan'),
                low=float(low), high=float(high))


def share_of(ap: Dict[str, np.ndarray], name: str, stat: int) -> np.ndarray:
    """Headroom share of ranking ``name`` from the APs' column ``stat``
    (of AP / AP75: 0 AP, 1 AP75; of APs per IoU threshold: the threshold's
    index)."""
    return headroom_share(ap[name][..., stat], ap['cls'][..., stat],
                          ap['oracle'][..., stat])


def error_agreement(records: Dict[str, object], other: Dict[str, object],
                    score_thr: float) -> float:
    """Pearson of two heads' errors (predicted - true IoU) on the hits.

    Near 1, the heads err alike on the same masks (averaging them would
    not help); the hits are the detections above ``score_thr`` with a true
    IoU above 0, as the metric's ``pearson_iou_hits``.
    """
    true = records['true_iou']
    hits = (records['score'] > score_thr) & (true > 0)
    errors = [np.clip(r['pred_iou'][hits], 0., 1.) - true[hits]
              for r in (records, other)]
    return float(correlations(*errors)[0])


def bootstrap_rows(dumps, names, coco_api, args,
                   extra_pairs=()) -> List[dict]:
    """One row per ranking (AP, AP75, headroom), then paired differences.

    The differences are of every dump from the first and from
    ``cls x maskness``, then of each ``(name, base)`` of ``extra_pairs``.
    """
    scores = rankings(dumps, names)
    img_ids = sorted(set(dumps[0]['img_id'].tolist()))
    matches = {
        name: segm_matches(coco_api, dumps[0], s, img_ids, args.max_dets)
        for name, s in scores.items()
    }
    point_iou = {
        name: resampled_ap_per_iou(m, np.ones(len(img_ids)))
        for name, m in matches.items()
    }
    boot_iou = bootstrap_ap(matches, args.boot, args.seed, per_iou=True)
    point = {n: ap_and_ap75(a, IOU_THRS) for n, a in point_iou.items()}
    boot = {n: ap_and_ap75(a, IOU_THRS) for n, a in boot_iou.items()}
    shares = (('headroom_recovered', 0), ('headroom_recovered_75', 1))
    rows = []
    for name in scores:
        row = dict(ranking=name,
                   segm_mAP=summary(point[name][0], boot[name][:, 0]),
                   segm_mAP_75=summary(point[name][1], boot[name][:, 1]))
        if getattr(args, 'per_iou', False):
            row['ap_per_iou'] = [
                summary(point_iou[name][t], boot_iou[name][:, t])
                for t in range(len(IOU_THRS))
            ]
        if name not in ('cls', 'oracle'):
            for col, stat in shares:
                row[col] = summary(share_of(point, name, stat),
                                   share_of(boot, name, stat))
            row['gain_75'] = summary(point[name][1] - point['cls'][1],
                                     boot[name][:, 1] - boot['cls'][:, 1])
            if getattr(args, 'per_iou', False):
                row['headroom_per_iou'] = [
                    summary(share_of(point_iou, name, t),
                            share_of(boot_iou, name, t))
                    for t in range(len(IOU_THRS))
                ]
        rows.append(row)
    pairs = [(name, names[0]) for name in names[1:]]
    if 'cls x maskness' in scores:
        pairs += [(name, 'cls x maskness') for name in names]
    pairs += list(extra_pairs)
    for name, base in pairs:  # paired on each resample
        diff = dict(ranking=f'{name} - {base}')
        for col, stat in (('segm_mAP', 0), ('segm_mAP_75', 1)):
            diff[col] = summary(point[name][stat] - point[base][stat],
                                boot[name][:, stat] - boot[base][:, stat])
        for col, stat in shares:
            diff[col] = summary(
                share_of(point, name, stat) - share_of(point, base, stat),
                share_of(boot, name, stat) - share_of(boot, base, stat))
        diff['resamples_above'] = float(
            np.mean(boot[name][:, 0] > boot[base][:, 0]))
        if base in names:
            diff['error_corr_hits'] = error_agreement(
                dumps[names.index(name)], dumps[names.index(base)],
                args.score_thr)
        rows.append(diff)
    return rows


def cell(value: dict) -> str:
    """``value ± std [low, high]`` of a :func:`summary`, in percent."""
    return (f'{100 * value["value"]:.1f} ± {100 * value["std"]:.1f} '
            f'[{100 * value["low"]:.1f}, {100 * value["high"]:.1f}]')


def print_rows(rows: List[dict], num_boot: int) -> None:
    print(f'value on all images ± bootstrap std [95 % interval], '
          f'{num_boot} image resamples')
    print('ranking | segm AP | AP75 | headroom % | headroom AP75 % '
          '| AP75 gain over cls | resamples with higher AP '
          '| error correlation on hits')
    for r in rows:
        cells = [cell(r['segm_mAP']), cell(r['segm_mAP_75'])]
        for col in ('headroom_recovered', 'headroom_recovered_75', 'gain_75'):
            cells.append(cell(r[col]) if col in r else '')
        cells.append(f'{100 * r["resamples_above"]:.0f} %'
                     if 'resamples_above' in r else '')
        cells.append(f'{r["error_corr_hits"]:.3f}'
                     if 'error_corr_hits' in r else '')
        print(f'{r["ranking"]} | ' + ' | '.join(cells))


def print_per_iou(rows: List[dict]) -> None:
    """AP and headroom share per IoU threshold (rows with ``ap_per_iou``)."""
    print('per IoU threshold: AP, and for each mask score the headroom '
          'share % [95 % interval]')
    print('ranking | ' + ' | '.join(f'{t:.2f}' for t in IOU_THRS))
    for r in rows:
        if 'ap_per_iou' not in r:
            continue
        print(f'{r["ranking"]} AP | ' + ' | '.join(
            f'{100 * v["value"]:.1f}' for v in r['ap_per_iou']))
        if 'headroom_per_iou' in r:
            print(f'{r["ranking"]} headroom | ' + ' | '.join(
                f'{100 * v["value"]:.0f} [{100 * v["low"]:.0f}, '
                f'{100 * v["high"]:.0f}]' for v in r['headroom_per_iou']))


def main(argv=None) -> List[dict]:
    args = parse_args(argv)
    dumps = load_dumps(args.dumps)
    names = args.names or dump_names(args.dumps)
    clash = {'cls', 'cls x maskness', 'oracle'} & set(names)
    if clash:
        raise SystemExit(f'--names {sorted(clash)} are names of the '
                         'baseline rankings: name the dumps otherwise.')
    coco_api = load_coco(args.ann_file)
    rows = bootstrap_rows(dumps, names, coco_api, args)
    print(f'{len(dumps[0]["score"])} detections on '
          f'{len(set(dumps[0]["img_id"].tolist()))} images')
    print_rows(rows, args.boot)
    if args.per_iou:
        print_per_iou(rows)
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(rows, f, indent=1)
    return rows


if __name__ == '__main__':
    main()
