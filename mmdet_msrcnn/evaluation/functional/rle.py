"""Masks as COCO run-length encodings (RLEs)."""
from typing import List, Sequence

import numpy as np
import pycocotools.mask as mask_util
import torch


def to_numpy(x) -> np.ndarray:
    """Convert a tensor / array / sequence to a numpy array.

    Args:
        x (Tensor | np.ndarray | array-like): Input of any shape.

    Returns:
        np.ndarray: The same values (a detached CPU copy for tensors).
    """
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def encode_masks(masks) -> List[dict]:
    """Encode binary masks to COCO RLEs with ``str`` counts.

    Args:
        masks (Tensor | np.ndarray | list[dict] | BitmapMasks): N binary
            masks of shape (N, H, W), or N RLE dicts (already encoded, as in
            a results pickle written by mmdet's ``DumpDetResults``).

    Returns:
        list[dict]: N RLE dicts with keys ``size`` ([H, W]) and ``counts``
        (``str``).

    Raises:
        ValueError: Masks that do not have shape (N, H, W).
    """
    is_seq = isinstance(masks, (list, tuple))
    if is_seq and (len(masks) == 0 or isinstance(masks[0], dict)):
        rles = [dict(m) for m in masks]
    else:
        if is_seq:  # N (H, W) arrays
            masks = np.stack([to_numpy(m) for m in masks])
        is_array = isinstance(masks, (torch.Tensor, np.ndarray))
        if not is_array and hasattr(masks, 'masks'):
            masks = masks.masks  # mmdet BitmapMasks
        masks = to_numpy(masks)
        if masks.ndim != 3:
            raise ValueError('masks must have shape (N, H, W), got '
                             f'{masks.shape}')
        if masks.shape[0] == 0:
            return []
        # (N, H, W) -> Fortran-ordered (H, W, N) uint8, as pycocotools wants.
        masks_hwn = np.asfortranarray(
            masks.transpose(1, 2, 0).astype(np.uint8))
        rles = mask_util.encode(masks_hwn)
    for rle in rles:
        if isinstance(rle['counts'], bytes):
            rle['counts'] = rle['counts'].decode()
    return rles


def rle_areas(rles: Sequence[dict]) -> np.ndarray:
    """Pixel areas of RLEs, in chunks of 255.

    pycocotools' ``area`` overflows (``OverflowError`` under NumPy 2) when
    given 256 or more RLEs at once.

    Args:
        rles (Sequence[dict]): N RLE dicts.

    Returns:
        np.ndarray: (N,) float64 areas.
    """
    parts = [
        np.asarray(mask_util.area(list(rles[i:i + 255])), dtype=np.float64)
        for i in range(0, len(rles), 255)
    ]
    return np.concatenate(parts) if parts else np.zeros(0)
