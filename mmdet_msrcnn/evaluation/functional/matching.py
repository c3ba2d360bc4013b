"""True MaskIoU: matching detections to the ground truth of their class."""
from typing import Sequence

import numpy as np
import pycocotools.mask as mask_util
from pycocotools.coco import COCO

from .rle import encode_masks


def match_true_ious(coco_api: COCO, img_id: int, masks,
                    category_ids: Sequence[int]) -> np.ndarray:
    """True MaskIoU of each detection of one image.

    Each detection is compared with the non-crowd ground truths of its
    category in the image; its true MaskIoU is the highest mask IoU (0 when
    the image has no such ground truth). Several detections may share a
    ground truth: this is the per-detection regression target of MS R-CNN,
    not an AP-style one-to-one assignment.

    Args:
        coco_api (COCO): Ground truth API.
        img_id (int): Image id in ``coco_api``.
        masks (list[dict] | Tensor | np.ndarray): N predicted masks, as RLEs
            or binary masks of shape (N, H, W) at the original image size.
        category_ids (Sequence[int]): (N,) COCO category id of each
            detection.

    Returns:
        np.ndarray: (N,) float64 true MaskIoU in [0, 1].

    Raises:
        ValueError: Not as many masks as category ids, or masks of another
            size than the ground truth.
    """
    rles = encode_masks(masks)
    category_ids = np.asarray(category_ids, dtype=np.int64).reshape(-1)
    if len(rles) != len(category_ids):
        raise ValueError(f'{len(rles)} masks but {len(category_ids)} '
                         'category ids.')
    true_ious = np.zeros(len(rles), dtype=np.float64)
    if len(rles) == 0:
        return true_ious
    gt_anns = [
        ann for ann in coco_api.imgToAnns.get(img_id, [])
        if not ann.get('iscrowd', 0)
    ]
    for cat_id in np.unique(category_ids):
        gts = [ann for ann in gt_anns if ann['category_id'] == cat_id]
        if not gts:
            continue
        gt_rles = [coco_api.annToRLE(ann) for ann in gts]
        det_idx = np.flatnonzero(category_ids == cat_id)
        det_rles = [rles[i] for i in det_idx]
        gt_size = list(gt_rles[0]['size'])
        for rle in det_rles:
            if list(rle['size']) != gt_size:
                raise ValueError(
                    f'Image {img_id}: predicted mask size {rle["size"]} '
                    f'differs from the ground truth size {gt_size}; masks '
                    'must be at the original image scale.')
        # (num_dets, num_gts); iscrowd flags 0 -> plain IoU.
        ious = np.asarray(
            mask_util.iou(det_rles, gt_rles, [0] * len(gt_rles)),
            dtype=np.float64).reshape(len(det_rles), len(gt_rles))
        true_ious[det_idx] = ious.max(axis=1)
    return true_ious
