"""A COCO dataset that checks its files and annotations up front.

mmdet's :class:`~mmdet.datasets.CocoDataset` trusts its input: a wrong path
surfaces as a bare ``FileNotFoundError`` from deep inside pycocotools or the
first image load, a json without ``annotations`` silently gives images
without ground truth, and an annotation whose mask is empty (an empty
``segmentation``, an RLE with no foreground, a polygon of fewer than 3
points) either crashes ``LoadAnnotations`` or trains on a mask of nothing.
Hostile values do worse: a polygon point at ``1e9`` makes pycocotools
allocate gigabytes (or crash), an RLE whose runs add up to more than the
image overruns its buffer, a category id outside the configured classes
reaches the loss as an out-of-range label, an empty split fails in mmengine
with ``need at least one array to concatenate`` and a truncated image only
fails when it is first read, after training has started.
:class:`CheckedCocoDataset` catches those while loading the annotation file,
with a message that names the field and the fix.
"""
import io
import json
import numbers
import os.path as osp
import time
import warnings
from collections import Counter, defaultdict
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
from mmdet.datasets import CocoDataset
from mmdet.datasets.api_wrappers import COCO
from mmengine import fileio
from mmengine.logging import print_log
from pycocotools import mask as mask_util

from mmdet_msrcnn.registry import DATASETS

#: Values of ``invalid_masks``.
INVALID_MASK_MODES = ('skip', 'error')
#: Values of ``other_categories``.
OTHER_CATEGORY_MODES = ('error', 'skip')
#: Top-level keys every COCO instance annotation file has.
COCO_KEYS = ('images', 'annotations', 'categories')
#: How far outside the image a bbox corner or polygon point may lie, in
#: image sizes: x in ``[-m * w, (1 + m) * w]``, y in ``[-m * h, (1 + m) *
#: h]``. Points a little outside (a polygon cut by the border) are normal;
#: anything beyond is an error in the data, and makes pycocotools rasterise
#: an edge of that length (gigabytes of memory for ``1e9``).
COORD_MARGIN = 1.0
#: How many bad images or annotations a message lists.
MAX_LISTED = 5

#: What each kind of invalid annotation means, for the messages.
INVALID_REASONS = {
    'empty_mask':
    'empty mask (no segmentation, one with no foreground, or a polygon '
    'with no pixel inside the image)',
    'short_polygon':
    'polygon with fewer than 3 points',
    'bad_rle':
    'RLE without counts/size, of another size than the image, or whose '
    'runs do not add up to height * width',
    'zero_area_bbox':
    'bbox with zero area (w or h < 1, outside the image, '
    'or area <= 0)',
    'nonfinite_coords':
    'bbox, area or polygon value that is NaN, inf or not a number (a '
    'polygon part must be a flat list [x1, y1, x2, y2, ...])',
    'coords_out_of_bounds':
    'bbox corner or polygon point more than one image size outside the '
    'image (x outside [-w, 2w] or y outside [-h, 2h])',
}


class InvalidAnnotationWarning(UserWarning):
    """Annotations were skipped by ``invalid_masks='skip'``."""


class OtherCategoryWarning(UserWarning):
    """Annotations of categories outside ``metainfo['classes']`` were
    skipped by ``other_categories='skip'``."""


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


def _numbers(values) -> Optional[np.ndarray]:
    """``values`` as a flat float64 array, or None unless all are finite
    numbers (NaN, inf, bools, strings, None and nested lists are not)."""
    try:
        arr = np.asarray(values)
        if arr.ndim != 1:
            return None
        if arr.dtype.kind == 'O':  # e.g. ints beyond 64 bits
            if not all(
                    isinstance(v, numbers.Real) and not isinstance(v, bool)
                    for v in arr):
                return None
        elif arr.dtype.kind not in 'iuf':
            return None
        arr = arr.astype(np.float64, copy=False)
    except (TypeError, ValueError, OverflowError):
        return None
    return arr if np.isfinite(arr).all() else None


def _far_outside(x_min: float, x_max: float, y_min: float, y_max: float,
                 height: float, width: float) -> bool:
    """Whether a point lies beyond :data:`COORD_MARGIN` around the image."""
    return (x_min < -COORD_MARGIN * width or x_max > (1 + COORD_MARGIN) * width
            or y_min < -COORD_MARGIN * height
            or y_max > (1 + COORD_MARGIN) * height)


def _polygon_area(parts: Sequence[np.ndarray]) -> float:
    """Shoelace area of the valid parts (>= 3 points) of a polygon."""
    area = 0.0
    for pts in parts:
        if pts.size % 2 or pts.size < 6:
            continue
        x, y = pts[0::2], pts[1::2]
        area += 0.5 * abs(
            float(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y)))
    return area


def _rle_string_counts(counts: bytes) -> Optional[np.ndarray]:
    """Run lengths of a compressed COCO RLE string.

    Mirrors pycocotools' ``rleFrString`` (vectorised), which trusts the
    string; None for a string pycocotools would misread (a character
    outside its alphabet, a number cut at the end or of more than 7
    characters, a negative or > 32 bit run).
    """
    chars = np.frombuffer(counts, dtype=np.uint8).astype(np.int64) - 48
    if chars.size == 0:
        return np.zeros(0, np.int64)
    if chars.min() < 0 or chars.max() >= 64:
        return None
    last = (chars & 0x20) == 0  # the last character of each number
    if not last[-1]:
        return None
    ends = np.flatnonzero(last)
    starts = np.concatenate([[0], ends[:-1] + 1])
    lengths = ends - starts + 1
    if lengths.max() > 7:
        return None
    digit = np.arange(chars.size) - np.repeat(starts, lengths)
    values = np.add.reduceat((chars & 0x1f) << (5 * digit), starts)
    negative = (chars[ends] & 0x10) != 0
    values = values - negative * (np.int64(1) << (5 * lengths))
    runs = values.copy()  # run m adds run m - 2 for m > 2
    runs[1::2] = np.cumsum(values[1::2])
    runs[2::2] = np.cumsum(values[2::2])
    if runs.min() < 0 or runs.max() >= 2**32:
        return None
    return runs


def _rle_runs_fit(counts, height: int, width: int) -> bool:
    """Whether RLE ``counts`` are valid runs adding up to height * width.

    pycocotools trusts the runs when it decodes them into a mask of
    height * width pixels: with 2.0.11, runs that add up to more raise
    ``Invalid RLE mask representation`` (in ``LoadAnnotations``, during
    training), and runs that add up to less leave pixels uninitialised.
    """
    if isinstance(counts, list):
        runs = _numbers(counts) if counts else np.zeros(0)
        if runs is None or (runs < 0).any() or (runs >= 2**32).any() or \
                (runs != np.round(runs)).any():
            return False
        total = int(runs.sum())
    else:
        if isinstance(counts, str):
            try:
                counts = counts.encode('ascii')
            except UnicodeEncodeError:
                return False
        runs = _rle_string_counts(counts)
        if runs is None:
            return False
        total = int(runs.sum())
    return total == height * width


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
        return _polygon_problem(segmentation, height, width)
    if not isinstance(segmentation, dict):
        return 'bad_rle'
    counts, size = segmentation.get('counts'), segmentation.get('size')
    if not isinstance(counts, (str, bytes, list)) or size is None:
        return 'bad_rle'
    try:
        if [int(s) for s in size] != [int(height), int(width)]:
            return 'bad_rle'
    except (TypeError, ValueError, OverflowError):
        return 'bad_rle'
    if len(counts) == 0:
        return 'empty_mask'
    if not _rle_runs_fit(counts, int(height), int(width)):
        return 'bad_rle'
    try:
        if isinstance(counts, list):  # uncompressed RLE
            rle = mask_util.frPyObjects(
                dict(
                    counts=[int(c) for c in counts],
                    size=[int(height), int(width)]), int(height), int(width))
        else:
            rle = dict(segmentation)
            if isinstance(counts, str):
                rle['counts'] = counts.encode('ascii')
        area = float(mask_util.area(rle))
    except Exception:  # pycocotools raises bare Exceptions / TypeErrors
        return 'bad_rle'
    return None if area > 0 else 'empty_mask'


def _polygon_problem(segmentation: list, height: int,
                     width: int) -> Optional[str]:
    """:func:`mask_problem` for a polygon segmentation."""
    parts = []
    x_min = y_min = np.inf
    x_max = y_max = -np.inf
    for part in segmentation:
        if not isinstance(part, (list, tuple)):
            continue
        pts = _numbers(part) if len(part) else np.zeros(0)
        if pts is None:
            return 'nonfinite_coords'
        parts.append(pts)
        if pts.size >= 2:
            x, y = pts[0::2], pts[1::2]
            x_min, x_max = min(x_min, x.min()), max(x_max, x.max())
            y_min, y_max = min(y_min, y.min()), max(y_max, y.max())
    if x_max >= x_min and _far_outside(x_min, x_max, y_min, y_max, height,
                                       width):
        return 'coords_out_of_bounds'
    valid = [p for p in parts if p.size >= 6 and p.size % 2 == 0]
    if not valid:
        return 'short_polygon'
    if _polygon_area(valid) <= 0:
        return 'empty_mask'
    if x_min < 0 or y_min < 0 or x_max > width or y_max > height:
        # partly outside: rasterise as LoadAnnotations will (bounded, so
        # cheap) to see whether a pixel is left inside the image
        rles = mask_util.frPyObjects([p.tolist() for p in valid], int(height),
                                     int(width))
        if float(mask_util.area(mask_util.merge(rles))) <= 0:
            return 'empty_mask'
    return None


def bbox_problem(ann: dict, height: int, width: int) -> Optional[str]:
    """Why an annotation's box is unusable (mmdet would drop it silently,
    or train on it).

    Args:
        ann (dict): COCO annotation with ``bbox`` ``[x, y, w, h]`` and
            ``area``.
        height (int): Image height.
        width (int): Image width.

    Returns:
        str | None: ``'nonfinite_coords'``, ``'coords_out_of_bounds'``,
        ``'zero_area_bbox'`` or None.
    """
    bbox = ann.get('bbox')
    if not isinstance(bbox, (list, tuple)) or len(bbox) != 4:
        return 'zero_area_bbox'
    values = _numbers(list(bbox) + ([ann['area']] if 'area' in ann else []))
    if values is None:
        return 'nonfinite_coords'
    x1, y1, w, h = values[:4]
    area = values[4] if values.size > 4 else w * h
    if _far_outside(
            min(x1, x1 + w), max(x1, x1 + w), min(y1, y1 + h), max(y1, y1 + h),
            height, width):
        return 'coords_out_of_bounds'
    inter_w = min(x1 + w, width) - max(x1, 0)
    inter_h = min(y1 + h, height) - max(y1, 0)
    if w < 1 or h < 1 or area <= 0 or inter_w <= 0 or inter_h <= 0:
        return 'zero_area_bbox'
    return None


def image_problem(path: str,
                  height: int,
                  width: int,
                  backend_args: Optional[dict] = None) -> Optional[str]:
    """Why an image cannot be read in full, or is not of its json size.

    The image is decoded completely with PIL, with
    ``ImageFile.LOAD_TRUNCATED_IMAGES`` off, so that a file cut short
    raises here instead of in ``LoadImageFromFile`` (``AssertionError:
    failed to load image``) once training has started.

    Args:
        path (str): Image path or URI (read with mmengine's file backends).
        height (int): Height the annotation file gives.
        width (int): Width the annotation file gives.
        backend_args (dict, optional): mmengine file backend arguments.

    Returns:
        str | None: What is wrong (for the message), or None.
    """
    from PIL import Image, ImageFile
    try:
        data = fileio.get(path, backend_args=backend_args)
    except FileNotFoundError:
        return 'missing'
    except Exception as err:  # any backend: permissions, network, ...
        return f'unreadable: {type(err).__name__}: {err}'
    truncated_ok = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            sizes = {img.size}
            if img.getexif().get(0x0112) in (5, 6, 7, 8):  # rotated 90
                sizes.add(img.size[::-1])  # OpenCV applies the rotation
    except Exception as err:  # PIL: OSError, SyntaxError, ValueError...
        return f'truncated or corrupt: {type(err).__name__}: {err}'
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = truncated_ok
    if (int(width), int(height)) not in sizes:
        real_w, real_h = sorted(sizes)[0]
        return (f'{real_w} x {real_h} px, but the annotation file says '
                f'{int(width)} x {int(height)} (width x height)')
    return None


def _image_size(img: dict, ann_file: str) -> Tuple[int, int]:
    """An image's ``(height, width)`` from the json, or a clear error."""
    dims = [img.get('height'), img.get('width')]
    if all(
            isinstance(v, numbers.Real) and not isinstance(v, bool)
            and np.isfinite(v) and v >= 1 and float(v) == int(v)
            for v in dims):
        return int(dims[0]), int(dims[1])
    raise ValueError(
        f"CheckedCocoDataset: image id {img.get('id')} "
        f"({img.get('file_name')}) in {ann_file} has height={dims[0]!r}, "
        f'width={dims[1]!r}. Every entry of images needs its height and '
        'width in pixels (positive integers): fix them (or regenerate the '
        'annotation file).')


@DATASETS.register_module()
class CheckedCocoDataset(CocoDataset):
    """COCO instance segmentation with early, clear input errors.

    On top of :class:`~mmdet.datasets.CocoDataset`, while loading:

    * a missing annotation file or image folder raises
      ``FileNotFoundError`` naming the joined path and the config fields
      (``data_root``, ``ann_file``, ``data_prefix.img``);
    * a file that is not JSON, or lacks one of ``images``, ``annotations``,
      ``categories``, raises ``ValueError``, and so does an image without
      a positive ``height`` / ``width``;
    * annotations whose mask or box cannot train (see
      :data:`INVALID_REASONS`: also NaN / inf values, and bbox corners or
      polygon points more than one image size outside the image, see
      :data:`COORD_MARGIN`) are dropped with one
      :class:`InvalidAnnotationWarning` giving their count
      (``invalid_masks='skip'``), or raise ``ValueError`` listing them
      (``'error'``). Polygon parts of fewer than 3 points next to a valid
      part are left to ``LoadAnnotations``, which drops them;
    * labels: mmdet gives label ``i`` to the ``i``-th category of the file
      whose name is in ``metainfo['classes']``. Annotations of other
      categories (mmdet drops them silently) raise ``ValueError`` naming
      the ids (``other_categories='error'``, the default) or are dropped
      with an :class:`OtherCategoryWarning` (``'skip'``, to train on a
      subset of the categories on purpose). Several categories with one
      class name, or more classes than ``num_classes``, raise
      ``ValueError`` (either gives labels the model's heads do not have);
    * a split without images, a training split (``test_mode=False``)
      without any usable annotation, or with no image left by
      ``filter_cfg``, raises ``ValueError`` naming the annotation file.
      With ``filter_cfg.filter_empty_gt=True`` images whose annotations
      were all skipped are dropped too;
    * with ``verify_images=True``, every image of the split is decoded
      once (its time is logged): missing, unreadable or truncated files,
      and images of another size than the json says, raise
      ``ValueError`` listing the first few.

    Annotations marked ``ignore`` are not checked (mmdet drops them
    anyway). The evaluator reads the annotation file itself, so skipped
    annotations still count there.

    Args:
        invalid_masks (str): ``'skip'`` (default) or ``'error'``.
        other_categories (str): ``'error'`` (default) or ``'skip'``.
        num_classes (int, optional): The model's number of classes (of its
            bbox / mask / MaskIoU heads). Defaults to the number of
            ``metainfo['classes']``.
        verify_images (bool): Decode every image of the split at load
            time (measured on 2 shared CPU cores: 0.3 s for the 400 demo
            training images of 128 px, 2 to 3 s for the 532 nuclei
            training images of 256 to 1388 px). Defaults to False.
        **kwargs: :class:`~mmdet.datasets.CocoDataset` arguments.
    """

    COCOAPI = CheckedCOCO

    def __init__(self,
                 *args,
                 invalid_masks: str = 'skip',
                 other_categories: str = 'error',
                 num_classes: Optional[int] = None,
                 verify_images: bool = False,
                 **kwargs) -> None:
        if invalid_masks not in INVALID_MASK_MODES:
            raise ValueError(
                f'CheckedCocoDataset: invalid_masks={invalid_masks!r}; use '
                f'one of {INVALID_MASK_MODES}.')
        if other_categories not in OTHER_CATEGORY_MODES:
            raise ValueError(
                'CheckedCocoDataset: other_categories='
                f'{other_categories!r}; use one of {OTHER_CATEGORY_MODES}.')
        if num_classes is not None and (
                not isinstance(num_classes, numbers.Integral)
                or isinstance(num_classes, bool) or num_classes < 1):
            raise ValueError(
                f'CheckedCocoDataset: num_classes={num_classes!r}; use the '
                "model's number of classes (a positive integer), or None "
                "for the number of metainfo['classes'].")
        self.invalid_masks = invalid_masks
        self.other_categories = other_categories
        self.num_classes = num_classes
        self.verify_images = bool(verify_images)
        self.invalid_annotations: List[dict] = []
        self.other_category_annotations: Counter = Counter()
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
        self.other_category_annotations = Counter()
        self._category_names: Dict[int, str] = {}
        self._categories_checked = False
        self._num_annotations = 0
        self._skipped_img_ids = set()
        data_list = super().load_data_list()
        self._report_other_categories()
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
        if not self._categories_checked:  # the first image; self.coco set
            self._check_categories()
        img = raw_data_info['raw_img_info']
        height, width = _image_size(img, self.ann_file)
        img_id = img.get('img_id', img.get('id'))
        kept = []
        self._num_annotations += len(raw_data_info['raw_ann_info'])
        for ann in raw_data_info['raw_ann_info']:
            if ann.get('ignore', False):
                kept.append(ann)  # mmdet drops it
                continue
            if ann.get('category_id') not in self._cat_id_set:
                self.other_category_annotations[ann.get('category_id')] += 1
                self._skipped_img_ids.add(img_id)
                continue
            reason = bbox_problem(ann, height, width) or mask_problem(
                ann.get('segmentation'), height, width)
            if reason is None:
                kept.append(ann)
            else:
                self._skipped_img_ids.add(img_id)
                self.invalid_annotations.append(
                    dict(id=ann.get('id'), image_id=img_id, reason=reason))
        raw_data_info = dict(raw_data_info, raw_ann_info=kept)
        return super().parse_data_info(raw_data_info)

    def filter_data(self) -> List[dict]:
        """Filter as mmdet, refuse an empty split, verify the images."""
        data_list = super().filter_data()
        filter_empty_gt = not self.test_mode and bool(
            (self.filter_cfg or {}).get('filter_empty_gt', False))
        if filter_empty_gt:  # also images whose annotations were skipped
            data_list = [
                d for d in data_list
                if d['instances'] or d['img_id'] not in self._skipped_img_ids
            ]
        self._check_not_empty(data_list, filter_empty_gt)
        if self.verify_images:
            self._verify_images(data_list)
        return data_list

    # ------------------------------------------------------------------
    def _classes_text(self) -> str:
        classes = tuple(self.metainfo['classes'])
        shown = ', '.join(repr(c) for c in classes[:8])
        more = f', ... ({len(classes)} names)' if len(classes) > 8 else ''
        return f'({shown}{more})'

    def _check_categories(self) -> None:
        """Refuse category names and class counts that give bad labels."""
        self._categories_checked = True
        self._cat_id_set = set(self.cat_ids)
        cats = getattr(getattr(self, 'coco', None), 'cats', {})
        self._category_names = {
            cid: cat.get('name')
            for cid, cat in cats.items()
        }
        classes = tuple(self.metainfo['classes'])
        ids_of_name = defaultdict(list)
        for cid in self.cat_ids:
            ids_of_name[self._category_names.get(cid)].append(cid)
        shared = {n: ids for n, ids in ids_of_name.items() if len(ids) > 1}
        if shared:
            listed = '; '.join(f'{name!r}: ids {ids}'
                               for name, ids in sorted(shared.items()))
            raise ValueError(
                f'CheckedCocoDataset: several categories of {self.ann_file} '
                f'have the same name ({listed}). mmdet gives one label per '
                'category whose name is in metainfo classes, so these '
                f'{len(self.cat_ids)} categories would get labels 0..'
                f'{len(self.cat_ids) - 1} for {len(classes)} classes '
                '(IndexError in the loss). Give each category its own name '
                '(and list it in metainfo=dict(classes=...)), or merge them '
                'into one category id.')
        num_classes = self.num_classes or len(classes)
        if len(classes) > num_classes:
            raise ValueError(
                f"CheckedCocoDataset: metainfo['classes'] has {len(classes)} "
                f'names {self._classes_text()}, i.e. labels 0..'
                f'{len(classes) - 1}, but num_classes={num_classes}: the '
                f"model's heads have no output for label {num_classes} "
                '(IndexError in the loss). Set num_classes of the dataset '
                'and of the model (bbox_head, mask_head and mask_iou_head '
                f'num_classes) to {len(classes)}, or list only the '
                f'{num_classes} classes to train in metainfo.')

    def _report_other_categories(self) -> None:
        """Refuse (or count) annotations of categories not in classes."""
        if not self._categories_checked:  # no image: nothing was parsed
            return
        other = self.other_category_annotations
        if not other:
            return
        total = sum(other.values())

        def name(cid):
            if cid in self._category_names:
                return repr(self._category_names[cid])
            return 'not in the categories of the file'

        listed = ', '.join(f'id {cid!r} ({name(cid)}, {n} annotation(s))'
                           for cid, n in other.most_common(MAX_LISTED))
        if len(other) > MAX_LISTED:
            listed += f', ... ({len(other)} category ids)'
        if self.other_categories == 'error':
            raise ValueError(
                f'CheckedCocoDataset: {total} annotation(s) of '
                f'{self.ann_file} have a category that is not in '
                f"metainfo['classes'] {self._classes_text()}: {listed}. "
                'mmdet would drop them silently (or, with classes that do '
                "not match the model's num_classes, give labels its heads "
                'do not have). Add the category names to '
                'metainfo=dict(classes=...) and set num_classes of the '
                'model heads (and of the dataset) to match, fix the '
                'category_id of these annotations, or set '
                "other_categories='skip' to train on the listed classes "
                'only (they are then dropped with a warning).')
        warnings.warn(
            f'CheckedCocoDataset: skipped {total} annotation(s) of '
            f'{self.ann_file} whose category is not in '
            f"metainfo['classes'] (other_categories='skip'): {listed}. Set "
            "other_categories='error' to stop instead.", OtherCategoryWarning)

    def _report_invalid(self) -> None:
        invalid = self.invalid_annotations
        if not invalid:
            return
        counts = Counter(item['reason'] for item in invalid)
        summary = '; '.join(f'{n} {INVALID_REASONS[reason]}'
                            for reason, n in sorted(counts.items()))
        examples = ', '.join(
            f"id={item['id']} (image {item['image_id']}, {item['reason']})"
            for item in invalid[:MAX_LISTED])
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

    def _check_not_empty(self, data_list: List[dict],
                         filter_empty_gt: bool) -> None:
        """Refuse a split that has nothing to train on or evaluate."""
        num_images = len(self.data_list)
        if num_images == 0:
            raise ValueError(
                f'CheckedCocoDataset: {self.ann_file} has no image (its '
                "'images' list is empty), so this split has nothing to "
                'train on or evaluate (mmengine would fail with "need at '
                'least one array to concatenate"). Point ann_file to the '
                "split's annotation file, or regenerate it (for the demo "
                'set: tools/dataset_converters/make_shapes.py --out '
                '<data_root>).')
        if self.test_mode:  # mmdet does not filter test splits
            return

        def usable(infos):
            return sum(1 for d in infos for inst in d['instances']
                       if not inst.get('ignore_flag', 0))

        if data_list and usable(data_list):
            return
        counts = f'{self._num_annotations} annotation(s) in the json'
        parts = []
        if self.invalid_annotations:
            parts.append(f'{len(self.invalid_annotations)} skipped as '
                         'invalid')
        if self.other_category_annotations:
            parts.append(f'{sum(self.other_category_annotations.values())} '
                         'of other categories')
        if parts:
            counts += f" ({', '.join(parts)})"
        if data_list:
            msg = (f'the training split {self.ann_file} ({num_images} '
                   f'image(s)) has nothing to learn: {counts}, none a '
                   'usable instance of the classes '
                   f'{self._classes_text()}')
        else:
            why = []
            if filter_empty_gt:
                empty = sum(1 for d in self.data_list if not d['instances'])
                why.append(f'{empty} have no usable annotation of the '
                           f'classes {self._classes_text()} '
                           '(filter_empty_gt=True drops them)')
            min_size = (self.filter_cfg or {}).get('min_size', 0)
            small = sum(1 for d in self.data_list
                        if min(d['width'], d['height']) < min_size)
            if small:
                why.append(f'{small} with a side under min_size={min_size}')
            msg = (f'no image of {self.ann_file} is left for training by '
                   f'filter_cfg={self.filter_cfg}: of its {num_images} '
                   f"image(s), {' and '.join(why)}; {counts}")
        raise ValueError(
            f'CheckedCocoDataset: {msg}. Point ann_file to the annotated '
            'training json, check that metainfo classes match its category '
            'names and fix the annotations (or filter_cfg); for an '
            'unlabeled split (to run inference on), set test_mode=True.')

    def _verify_images(self, data_list: List[dict]) -> None:
        """Decode every image once; refuse missing or truncated ones."""
        start = time.perf_counter()
        bad = []
        for info in data_list:
            problem = image_problem(info['img_path'], info['height'],
                                    info['width'], self.backend_args)
            if problem is not None:
                bad.append((info['img_path'], problem))
        seconds = time.perf_counter() - start
        print_log(
            f'CheckedCocoDataset: verified {len(data_list)} image(s) of '
            f'{self.ann_file} in {seconds:.2f} s (verify_images=True); '
            f'{len(bad)} bad.',
            logger='current')
        if not bad:
            return
        listed = ', '.join(f'{path} ({problem})'
                           for path, problem in bad[:MAX_LISTED])
        if len(bad) > MAX_LISTED:
            listed += ', ...'
        raise ValueError(
            f'CheckedCocoDataset: {len(bad)} of {len(data_list)} image(s) '
            f'of {self.ann_file} cannot be used: {listed}. Copy or '
            'regenerate these files (or remove their entries from the '
            'json, or fix their height / width there). With '
            'verify_images=False they would fail only when first read, '
            'during training.')
