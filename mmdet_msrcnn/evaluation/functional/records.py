"""Per-detection records of an evaluation: building, dumping, loading."""
import json
import os
import os.path as osp
from typing import Dict, Sequence

import numpy as np
from pycocotools.coco import COCO

from .matching import match_true_ious
from .rle import rle_areas

#: Per-detection arrays written to the dump file.
RECORD_KEYS = ('img_id', 'label', 'category_id', 'score', 'mask_score',
               'pred_iou', 'true_iou', 'area', 'maskness')

#: Records of integer dtype (int64); the others are float64.
_INT_KEYS = ('img_id', 'label', 'category_id')


def build_records(coco_api: COCO, results: Sequence[dict],
                  cat_ids: Sequence[int]) -> Dict[str, object]:
    """Per-detection records of a whole evaluation.

    Args:
        coco_api (COCO): Ground truth API.
        results (Sequence[dict]): Outputs of
            :func:`~.predictions.parse_pred_sample`, one per image.
        cat_ids (Sequence[int]): Category id of each contiguous label.

    Returns:
        dict: With M detections in all, (M,) numpy arrays ``img_id``,
        ``label``, ``category_id`` (int64), ``score`` (classification
        score), ``mask_score`` (``mask_scores`` if given, else ``score``),
        ``pred_iou`` (``mask_ious``, nan where not given), ``true_iou``,
        ``area`` (pixels of the predicted mask), ``maskness`` (nan where
        not given), all float64 but the ids,
        and ``rles``, the list of M predicted RLEs.

    Raises:
        ValueError: Labels out of range for ``cat_ids``.
    """
    cat_ids = np.asarray(cat_ids, dtype=np.int64)
    cols = {key: [] for key in RECORD_KEYS}
    rles = []
    for res in results:
        num = len(res['scores'])
        labels = res['labels']
        if num and (labels.min() < 0 or labels.max() >= len(cat_ids)):
            raise ValueError(f'Image {res["img_id"]}: labels out of range '
                             f'for {len(cat_ids)} classes.')
        cats = cat_ids[labels]
        cols['img_id'].append(np.full(num, res['img_id'], dtype=np.int64))
        cols['label'].append(labels)
        cols['category_id'].append(cats)
        cols['score'].append(res['scores'])
        cols['mask_score'].append(res['mask_scores'] if res['mask_scores']
                                  is not None else res['scores'])
        cols['pred_iou'].append(res['mask_ious'] if res['mask_ious']
                                is not None else np.full(num, np.nan))
        cols['maskness'].append(res['maskness'] if res.get('maskness')
                                is not None else np.full(num, np.nan))
        cols['true_iou'].append(
            match_true_ious(coco_api, res['img_id'], res['masks'], cats))
        areas = rle_areas(res['masks'])
        cols['area'].append(np.asarray(areas, dtype=np.float64))
        rles.extend(res['masks'])
    records = {}
    for key, parts in cols.items():
        dtype = np.int64 if key in _INT_KEYS else np.float64
        records[key] = np.concatenate(parts).astype(dtype) if parts \
            else np.zeros(0, dtype=dtype)
    records['rles'] = rles
    return records


def dump_records(records: Dict[str, object], out_file: str) -> None:
    """Write the per-detection arrays of :data:`RECORD_KEYS` and the masks.

    ``.npz`` files are written with :func:`numpy.savez_compressed`; any
    other suffix gives a json object of lists (nan written as ``null``). When
    ``records`` holds the M ``rles`` they are written too (npz:
    ``rle_counts`` (M,) bytes and ``rle_size`` (M, 2) int64; json: ``rles``),
    so a dump can be evaluated again with other scores
    (:func:`~.coco_segm.coco_segm_stats` on :func:`load_records`).

    Args:
        records (dict): Output of :func:`build_records`, (M,) arrays.
        out_file (str): Destination path.

    Raises:
        ValueError: ``rles`` whose number is not that of the detections.
    """
    out_dir = osp.dirname(osp.abspath(out_file))
    os.makedirs(out_dir, exist_ok=True)
    arrays = {key: np.asarray(records[key]) for key in RECORD_KEYS}
    rles = records.get('rles')
    if rles is not None and len(rles) != len(arrays['score']):
        raise ValueError(f'{len(rles)} rles for {len(arrays["score"])} '
                         'detections; build the records with '
                         'build_records.')
    if out_file.endswith('.npz'):
        if rles is not None:
            arrays['rle_counts'] = np.asarray(
                [_counts_bytes(rle) for rle in rles], dtype=np.bytes_)
            arrays['rle_size'] = np.asarray(
                [rle['size'] for rle in rles],
                dtype=np.int64).reshape(-1, 2)
        np.savez_compressed(out_file, **arrays)
        return
    data = {}
    for key, arr in arrays.items():
        if arr.dtype.kind == 'f':
            data[key] = [
                None if not np.isfinite(v) else float(v) for v in arr.tolist()
            ]
        else:
            data[key] = [int(v) for v in arr.tolist()]
    if rles is not None:
        data['rles'] = [
            dict(size=[int(v) for v in rle['size']],
                 counts=_counts_bytes(rle).decode()) for rle in rles
        ]
    with open(out_file, 'w') as f:
        json.dump(data, f)


def _counts_bytes(rle: dict) -> bytes:
    """An RLE's ``counts`` as bytes (pycocotools gives bytes or str)."""
    counts = rle['counts']
    if isinstance(counts, str):
        return counts.encode()
    if isinstance(counts, bytes):
        return counts
    raise ValueError('rles must be compressed RLEs (counts as str or '
                     f'bytes), got counts of type {type(counts).__name__}; '
                     'encode them with encode_masks.')


def load_records(dump_file: str) -> Dict[str, np.ndarray]:
    """Read a dump written by :func:`dump_records`.

    Args:
        dump_file (str): ``.npz`` or json path.

    Returns:
        dict[str, np.ndarray]: The (M,) arrays of :data:`RECORD_KEYS`
        (``null`` in json read back as nan; a dump written before
        ``maskness`` was recorded gets nan there), and ``rles``, the list
        of M RLE dicts (``str`` counts), when the dump holds the masks.
    """
    if dump_file.endswith('.npz'):
        with np.load(dump_file) as data:
            records = {key: data[key] for key in data.files}
        counts = records.pop('rle_counts', None)
        sizes = records.pop('rle_size', None)
        if counts is not None:
            records['rles'] = [
                dict(size=[int(h), int(w)], counts=c.decode())
                for c, (h, w) in zip(counts.tolist(), sizes.tolist())
            ]
    else:
        with open(dump_file) as f:
            data = json.load(f)
        records = {}
        for key, values in data.items():
            if key == 'rles':
                records[key] = values
            elif key in _INT_KEYS:
                records[key] = np.asarray(values, dtype=np.int64)
            else:
                records[key] = np.asarray(values, dtype=np.float64)
    if 'maskness' not in records and 'score' in records:
        records['maskness'] = np.full(len(records['score']), np.nan)
    return records
