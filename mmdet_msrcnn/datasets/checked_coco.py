"""A COCO dataset that checks its files and annotations up front.

mmdet's :class:`~mmdet.datasets.CocoDataset` trusts its input: a wrong path
surfaces as a bare ``FileNotFoundError`` from deep inside pycocotools or the
first image load, a json without ``annotations`` silently gives images
without ground truth, and an annotation whose mask is empty (an empty
``segmentation``, an RLE with no foreground, a polygon of fewer than 3
points) either crashes ``LoadAnnotations`` or trains on a mask of nothing.
:class:`CheckedCocoDataset` catches those while loading the annotation file,
with a message that names the field and the fix.
"""
import json
import os.path as osp
import warnings
from collections import Counter
from typing import List, Optional, Union

import numpy as np
from mmdet.datasets import CocoDataset
from mmdet.datasets.api_wrappers import COCO
from pycocotools import mask as mask_util

from mmdet_msrcnn.registry import DATASETS

#: Values of ``invalid_masks``.
INVALID_MASK_MODES = ('skip', 'error')
#: Top-level keys every COCO instance annotation file has.
COCO_KEYS = ('images', 'annotations', 'categories')

#: What each kind of invalid annotation means, for the messages.
INVALID_REASONS = {
    'empty_mask':
    'empty mask (no segmentation, or one with no foreground)',
    'short_polygon':
    'polygon with fewer than 3 points',
    'bad_rle':
    'RLE without counts/size or of another size than the image',
    'zero_area_bbox':
    'bbox with zero area (w or h < 1, outside the image, '
    'or area <= 0)',
}


class InvalidAnnotationWarning(UserWarning):
    """Annotations were skipped by ``invalid_masks='skip'``."""


class CheckedCOCO(COCO):
    """mmdet's COCO API that refuses files that are not COCO."""

    def __init__(self, annotation_file: Optional[str] = None) -> None:
        self._ann_file = annotation_file
        try:
            super().__init__(annotation_file)
        except json.JSONDecodeError as err:
            raise ValueError(
                f'Annotation file {annotation_file} is not valid JSON '
                f'({err}). Point ann_file to a COCO instances json.') from None
        except AssertionError as err:  # pycocotools: top level not a dict
            raise ValueError(
                f'Annotation file {annotation_file} is not COCO: {err}. '
                'Expected a JSON object with the keys '
                f'{list(COCO_KEYS)}.') from None

    def createIndex(self) -> None:  # noqa: N802 (pycocotools' name)
        missing = [k for k in COCO_KEYS if k not in self.dataset]
        if missing:
            raise ValueError(
                f'Annotation file {self._ann_file} is not a COCO instances '
                f'file: it has no {missing} key(s) (found '
                f'{sorted(self.dataset)}). Expected a JSON object with the '
                f'keys {list(COCO_KEYS)}; convert the data set to COCO '
                'format, or use the dataset class of its own format.')
        super().createIndex()


def _is_local(path: str, backend_args: Optional[dict]) -> bool:
    """Whether ``path`` lives on the local file system."""
    if '://' in str(path):
        return False
    backend = (backend_args or {}).get('backend', 'local')
    return backend in (None, 'local', 'disk')


def _polygon_area(parts: list) -> float:
    """Shoelace area of the valid parts (>= 3 points) of a polygon."""
    area = 0.0
    for part in parts:
        pts = np.asarray(part, dtype=np.float64).reshape(-1)
        if pts.size % 2 or pts.size < 6:
            continue
        x, y = pts[0::2], pts[1::2]
        area += 0.5 * abs(
            float(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y)))
    return area


def mask_problem(segmentation, height: int, width: int) -> Optional[str]:
    """Why a COCO ``segmentation`` cannot give an instance mask.

    Args:
        segmentation (list | dict | None): Polygons (a list of flat
            ``[x1, y1, x2, y2, ...]`` lists) or an RLE dict (``counts`` as
            a string or a list, and ``size`` ``[h, w]``).
        height (int): Image height.
        width (int): Image width.

    Returns:
        str | None: A key of :data:`INVALID_REASONS`, or None if the mask
        is usable.
    """
    if not segmentation:
        return 'empty_mask'
    if isinstance(segmentation, list):
        parts = [p for p in segmentation if isinstance(p, (list, tuple))]
        if not any(len(p) >= 6 and len(p) % 2 == 0 for p in parts):
            return 'short_polygon'
        return None if _polygon_area(parts) > 0 else 'empty_mask'
    if not isinstance(segmentation, dict):
        return 'bad_rle'
    counts, size = segmentation.get('counts'), segmentation.get('size')
    if not isinstance(counts, (str, bytes, list)) or size is None:
        return 'bad_rle'
    if [int(s) for s in size] != [int(height), int(width)]:
        return 'bad_rle'
    if len(counts) == 0:
        return 'empty_mask'
    try:
        if isinstance(counts, list):  # uncompressed RLE
            rle = mask_util.frPyObjects(segmentation, *size)
        else:
            rle = dict(segmentation)
            if isinstance(counts, str):
                rle['counts'] = counts.encode('ascii')
        area = float(mask_util.area(rle))
    except Exception:  # pycocotools raises bare Exceptions / TypeErrors
        return 'bad_rle'
    return None if area > 0 else 'empty_mask'


def bbox_problem(ann: dict, height: int, width: int) -> Optional[str]:
    """Why an annotation's box is unusable (mmdet would drop it silently).

    Args:
        ann (dict): COCO annotation with ``bbox`` ``[x, y, w, h]`` and
            ``area``.
        height (int): Image height.
        width (int): Image width.

    Returns:
        str | None: ``'zero_area_bbox'`` or None.
    """
    bbox = ann.get('bbox')
    try:
        x1, y1, w, h = (float(v) for v in bbox)
        area = float(ann.get('area', w * h))
    except (TypeError, ValueError):
        return 'zero_area_bbox'
    if not np.isfinite([x1, y1, w, h, area]).all():
        return 'zero_area_bbox'
    inter_w = min(x1 + w, width) - max(x1, 0)
    inter_h = min(y1 + h, height) - max(y1, 0)
    if w < 1 or h < 1 or area <= 0 or inter_w <= 0 or inter_h <= 0:
        return 'zero_area_bbox'
    return None


@DATASETS.register_module()
class CheckedCocoDataset(CocoDataset):
    """COCO instance segmentation with early, clear input errors.

    On top of :class:`~mmdet.datasets.CocoDataset`, while loading:

    * a missing annotation file or image folder raises
      ``FileNotFoundError`` naming the joined path and the config fields
      (``data_root``, ``ann_file``, ``data_prefix.img``);
    * a file that is not JSON, or lacks one of ``images``, ``annotations``,
      ``categories``, raises ``ValueError``;
    * annotations whose mask or box cannot train (see
      :data:`INVALID_REASONS`) are dropped with one
      :class:`InvalidAnnotationWarning` giving their count
      (``invalid_masks='skip'``), or raise ``ValueError`` listing them
      (``'error'``). Polygon parts of fewer than 3 points next to a valid
      part are left to ``LoadAnnotations``, which drops them.

    Annotations marked ``ignore`` and those of classes outside
    ``metainfo['classes']`` are not checked (mmdet drops them anyway). The
    evaluator reads the annotation file itself, so skipped annotations
    still count there.

    Args:
        invalid_masks (str): ``'skip'`` (default) or ``'error'``.
        **kwargs: :class:`~mmdet.datasets.CocoDataset` arguments.
    """

    COCOAPI = CheckedCOCO

    def __init__(self, *args, invalid_masks: str = 'skip', **kwargs) -> None:
        if invalid_masks not in INVALID_MASK_MODES:
            raise ValueError(
                f'CheckedCocoDataset: invalid_masks={invalid_masks!r}; use '
                f'one of {INVALID_MASK_MODES}.')
        self.invalid_masks = invalid_masks
        self.invalid_annotations: List[dict] = []
        super().__init__(*args, **kwargs)

    # ------------------------------------------------------------------
    def _check_paths(self) -> None:
        """Fail early on a missing annotation file or image folder."""
        if not _is_local(self.ann_file, self.backend_args):
            return
        if not osp.isfile(self.ann_file):
            raise FileNotFoundError(
                f'CheckedCocoDataset: annotation file {self.ann_file} does '
                f'not exist (data_root={self.data_root!r} joined with '
                'ann_file). Fix data_root / ann_file in the dataset config; '
                'for the demo set run tools/dataset_converters/'
                'make_shapes.py --out <data_root>.')
        img_dir = self.data_prefix.get('img', '')
        if img_dir and _is_local(img_dir, self.backend_args) and \
                not osp.isdir(img_dir):
            raise FileNotFoundError(
                f'CheckedCocoDataset: image folder {img_dir} does not exist '
                f'(data_root={self.data_root!r} joined with data_prefix.img).'
                ' Fix data_prefix=dict(img=...) in the dataset config.')

    def load_data_list(self) -> List[dict]:
        """Check the files, load the annotations and report invalid ones."""
        self._check_paths()
        self.invalid_annotations = []
        data_list = super().load_data_list()
        self._report_invalid()
        if data_list and _is_local(data_list[0]['img_path'],
                                   self.backend_args) and \
                not osp.isfile(data_list[0]['img_path']):
            raise FileNotFoundError(
                'CheckedCocoDataset: the first image of '
                f"{self.ann_file}, {data_list[0]['img_path']}, does not "
                'exist. Does data_prefix.img point to the folder of this '
                'split?')
        return data_list

    def parse_data_info(self, raw_data_info: dict) -> Union[dict, List[dict]]:
        """Drop (and record) invalid annotations, then parse as mmdet."""
        img = raw_data_info['raw_img_info']
        height, width = img['height'], img['width']
        kept = []
        for ann in raw_data_info['raw_ann_info']:
            reason = None
            if not ann.get('ignore', False) and \
                    ann.get('category_id') in self.cat_ids:
                reason = bbox_problem(ann, height, width) or mask_problem(
                    ann.get('segmentation'), height, width)
            if reason is None:
                kept.append(ann)
            else:
                self.invalid_annotations.append(
                    dict(
                        id=ann.get('id'),
                        image_id=img.get('img_id', img.get('id')),
                        reason=reason))
        raw_data_info = dict(raw_data_info, raw_ann_info=kept)
        return super().parse_data_info(raw_data_info)

    def _report_invalid(self) -> None:
        invalid = self.invalid_annotations
        if not invalid:
            return
        counts = Counter(item['reason'] for item in invalid)
        summary = '; '.join(f'{n} {INVALID_REASONS[reason]}'
                            for reason, n in sorted(counts.items()))
        examples = ', '.join(
            f"id={item['id']} (image {item['image_id']}, {item['reason']})"
            for item in invalid[:5])
        if self.invalid_masks == 'error':
            raise ValueError(
                f'CheckedCocoDataset: {len(invalid)} invalid annotation(s) '
                f'in {self.ann_file}: {summary}. First: {examples}. Fix or '
                "remove them, or set invalid_masks='skip' in the dataset "
                'config to drop them with a warning.')
        warnings.warn(
            f'CheckedCocoDataset: skipped {len(invalid)} invalid '
            f'annotation(s) in {self.ann_file}: {summary}. First: '
            f"{examples}. Set invalid_masks='error' to stop instead.",
            InvalidAnnotationWarning)
