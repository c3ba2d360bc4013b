"""Loading a COCO ground truth file and mapping labels to its categories."""
import contextlib
import io
import json
import os.path as osp
from typing import List, Optional, Sequence

from mmengine.fileio import get_local_path
from pycocotools.coco import COCO

# the data set's checked loader: one set of checks and messages for both
from mmdet_msrcnn.datasets.checked_coco import CheckedCOCO

def load_coco(ann_file: str, backend_args: Optional[dict] = None) -> COCO:
    """Load a COCO annotation file with pycocotools (silently).

    Args:
        ann_file (str): Path (or URI understood by mmengine) of the json.
        backend_args (dict, optional): mmengine file backend arguments.

    Returns:
        COCO: The pycocotools API object (a :class:`CheckedCOCO`).

    Raises:
        FileNotFoundError: A local ``ann_file`` that does not exist.
        ValueError: A file that is not JSON, or not a COCO instances file.
    """
    if '://' not in str(ann_file) and not osp.isfile(ann_file):
        raise FileNotFoundError(
            f'MaskQualityMetric: ann_file {ann_file!r} does not exist. Set '
            'the metric\'s ann_file to the COCO json of the evaluated split '
            '(as CocoMetric\'s); for the demo configs, generate the data set '
            'first (`python tools/dataset_converters/make_shapes.py` or '
            '`make demo`).')
    with get_local_path(ann_file, backend_args=backend_args) as local_path:
        with contextlib.redirect_stdout(io.StringIO()):
            return CheckedCOCO(local_path)


def resolve_cat_ids(coco_api: COCO,
                    classes: Optional[Sequence[str]] = None) -> List[int]:
    """Map contiguous labels to COCO category ids.

    Follows mmdet's ``CocoDataset`` / ``CocoMetric``: with class names the
    ids are ``coco_api.getCatIds(catNms=classes)`` (in the order of the
    annotation file's ``categories``), and label ``i`` is the ``i``-th id.
    Without class names the sorted category ids of the file are used.

    Args:
        coco_api (COCO): Ground truth API.
        classes (Sequence[str], optional): Class names of the dataset.

    Returns:
        list[int]: Category id of each label.

    Raises:
        ValueError: A class name that is not a category of the file.
    """
    if not classes:
        return sorted(coco_api.getCatIds())
    cat_ids = coco_api.getCatIds(catNms=list(classes))
    if len(cat_ids) != len(classes):
        names = {cat['name'] for cat in coco_api.loadCats(cat_ids)}
        missing = [c for c in classes if c not in names]
        raise ValueError(f'Classes {missing} are not categories of the '
                         'annotation file.')
    return list(cat_ids)
