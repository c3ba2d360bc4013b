"""What the image itself says about a predicted mask's quality.

The MaskIoU head sees the RoI's FPN feature and the predicted mask, never
the pixels at full resolution. These cues measure, per detection, how well
its binarised mask agrees with the image around it, with no learning:

- ``local_contrast``: ``|mean_in - mean_ring| / (std_in + std_ring + 0.05)``
  on the image rescaled to [0, 1] by its 1st and 99th intensity
  percentiles, ``ring`` being the pixels outside the mask within
  :data:`RING_WIDTH` pixels of it (chessboard distance). Either polarity
  (bright nuclei on dark, or dark on bright) gives the same value;
- ``otsu_component_iou``: in a window around the mask (its box grown by
  half its longer side, at least :data:`MIN_MARGIN` pixels), the image is
  thresholded by Otsu's method, the side of the threshold whose pixels are
  the majority inside the mask is the foreground, and the cue is the IoU of
  the mask with the union of the 8-connected foreground components it
  touches (1: the mask is exactly a blob of the image);
- ``boundary_gradient``: the mean Sobel gradient magnitude on the mask's
  boundary pixels (mask minus its 3x3 erosion), divided by the image's
  99th-percentile gradient magnitude.

An empty mask gets 0 for every cue. ``tools/analysis/image_cue_rescoring.py``
fits a correction of the predicted MaskIoU with these cues on training
images (:func:`fit_iou_corrector`) and measures on another split whether
they carry what the head misses.
"""
from typing import NamedTuple, Sequence

import cv2
import numpy as np
from pycocotools import mask as mask_utils

#: Column order of :func:`mask_image_cues`.
IMAGE_CUE_NAMES = ('local_contrast', 'otsu_component_iou',
                   'boundary_gradient')
#: Width in pixels of the ring around a mask that ``local_contrast`` reads.
RING_WIDTH = 3
#: Smallest margin in pixels of the window ``otsu_component_iou`` reads.
MIN_MARGIN = 6
#: Added to the two standard deviations of ``local_contrast``.
CONTRAST_EPS = 0.05

_KERNEL = np.ones((3, 3), np.uint8)


def normalised_gray(image: np.ndarray) -> np.ndarray:
    """A (H, W) float32 image rescaled by its 1st / 99th percentiles.

    Args:
        image (np.ndarray): (H, W) or (H, W, C) image of any dtype (colour
            channels are averaged).

    Returns:
        np.ndarray: (H, W) float32, 0 at the 1st and 1 at the 99th
        percentile (not clipped).
    """
    image = np.asarray(image)
    if image.ndim == 3:
        image = image.mean(axis=2)
    if image.ndim != 2:
        raise ValueError(f'image must be (H, W) or (H, W, C), got shape '
                         f'{image.shape}.')
    gray = image.astype(np.float32)
    low, high = np.percentile(gray, (1, 99))
    return ((gray - low) / max(float(high - low), 1e-6)).astype(np.float32)


def _window(mask: np.ndarray) -> tuple:
    """Slices of the mask's box grown by half its longer side."""
    ys, xs = np.nonzero(mask)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    margin = max(MIN_MARGIN, (max(y1 - y0, x1 - x0)) // 2)
    height, width = mask.shape
    return (slice(max(0, y0 - margin), min(height, y1 + margin)),
            slice(max(0, x0 - margin), min(width, x1 + margin)))


def local_contrast(gray: np.ndarray, mask: np.ndarray) -> float:
    """``|mean_in - mean_ring| / (std_in + std_ring + eps)`` of one mask."""
    ring = (cv2.dilate(mask, _KERNEL, iterations=RING_WIDTH) > 0) & (mask == 0)
    inside = gray[mask > 0]
    around = gray[ring] if ring.any() else inside
    return float(abs(inside.mean() - around.mean()) /
                 (inside.std() + around.std() + CONTRAST_EPS))


def otsu_component_iou(gray: np.ndarray, mask: np.ndarray) -> float:
    """IoU of a mask with the Otsu foreground blobs it touches."""
    rows, cols = _window(mask)
    crop = np.clip(gray[rows, cols] * 255, 0, 255).astype(np.uint8)
    inside = mask[rows, cols] > 0
    thr, _ = cv2.threshold(crop, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    bright = crop > thr
    foreground = bright if bright[inside].mean() >= 0.5 else ~bright
    _, labels = cv2.connectedComponents(
        foreground.astype(np.uint8), connectivity=8)
    touched = np.unique(labels[inside & foreground])
    blobs = np.isin(labels, touched[touched > 0])
    union = np.count_nonzero(inside | blobs)
    return float(np.count_nonzero(inside & blobs) / union)


def boundary_gradient(grad: np.ndarray, mask: np.ndarray,
                      scale: float) -> float:
    """Mean gradient magnitude on the mask's boundary over ``scale``."""
    boundary = (mask > 0) & (cv2.erode(mask, _KERNEL) == 0)
    return float(grad[boundary].mean() / scale)


def mask_image_cues(image: np.ndarray, masks: Sequence) -> np.ndarray:
    """The :data:`IMAGE_CUE_NAMES` cues of each mask of one image.

    Args:
        image (np.ndarray): (H, W) or (H, W, C) image the masks lie on.
        masks (Sequence): N binary masks, each an (H, W) array or a COCO
            RLE dict of that size.

    Returns:
        np.ndarray: (N, 3) float64, columns as :data:`IMAGE_CUE_NAMES`
        (0 for an empty mask).

    Raises:
        ValueError: A mask whose size is not the image's.
    """
    gray = normalised_gray(image)
    grad = np.hypot(cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3),
                    cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3))
    scale = float(np.percentile(grad, 99)) + 1e-6
    cues = np.zeros((len(masks), len(IMAGE_CUE_NAMES)))
    for i, mask in enumerate(masks):
        if isinstance(mask, dict):
            mask = mask_utils.decode(mask)
        mask = (np.asarray(mask) > 0).astype(np.uint8)
        if mask.shape != gray.shape:
            raise ValueError(
                f'mask {i} is {mask.shape[0]}x{mask.shape[1]} but the image '
                f'is {gray.shape[0]}x{gray.shape[1]}: give the masks at the '
                'resolution of the image they were predicted on.')
        if not mask.any():
            continue
        cues[i] = (local_contrast(gray, mask), otsu_component_iou(gray, mask),
                   boundary_gradient(grad, mask, scale))
    return cues


class IoUCorrector(NamedTuple):
    """A ridge regression of the true MaskIoU, clipped to [0, 1].

    Attributes:
        mean (np.ndarray): (F,) mean of each input column on the fit set.
        std (np.ndarray): (F,) its standard deviation (columns are
            standardised before the regression).
        coef (np.ndarray): (F + 1,) intercept, then one weight per
            standardised column.
    """
    mean: np.ndarray
    std: np.ndarray
    coef: np.ndarray

    def predict(self, inputs) -> np.ndarray:
        """(N,) corrected MaskIoU of (N, F) inputs, in [0, 1]."""
        inputs = np.asarray(inputs, dtype=np.float64)
        standard = (inputs - self.mean) / self.std
        return np.clip(self.coef[0] + standard @ self.coef[1:], 0., 1.)


def fit_iou_corrector(inputs, true_iou, weights=None,
                      ridge: float = 1e-3) -> IoUCorrector:
    """Weighted ridge least squares of the true MaskIoU on ``inputs``.

    Minimises ``sum_i w_i (y_i - c - z_i . b)^2 + ridge * sum_i w_i * |b|^2``
    over standardised inputs ``z`` (the intercept ``c`` is not shrunk). A
    column that is constant on the fit set gets weight 0.

    Args:
        inputs (array-like): (N, F) per-detection inputs, e.g. the
            predicted MaskIoU, its square and the image cues.
        true_iou (array-like): (N,) target.
        weights (array-like, optional): (N,) non-negative weights (e.g. the
            classification score, so that the fit favours the detections
            AP ranks high). Default: all 1.
        ridge (float): Shrinkage per unit of total weight.

    Returns:
        IoUCorrector: The fitted regression.
    """
    inputs = np.asarray(inputs, dtype=np.float64)
    target = np.asarray(true_iou, dtype=np.float64)
    if inputs.ndim != 2 or len(inputs) != len(target):
        raise ValueError(f'inputs must be (N, F) with N = {len(target)} '
                         f'targets, got shape {inputs.shape}.')
    weights = (np.ones(len(target)) if weights is None else
               np.asarray(weights, dtype=np.float64))
    if len(target) == 0 or (weights < 0).any() or weights.sum() <= 0:
        raise ValueError('fit_iou_corrector needs detections with positive '
                         'total weight (and no negative weight).')
    mean = np.average(inputs, axis=0, weights=weights)
    std = np.sqrt(np.average((inputs - mean)**2, axis=0, weights=weights))
    # a constant column (up to rounding of its mean) stays 0 once centred
    constant = std <= 1e-9 * np.maximum(1., np.abs(mean))
    std = np.where(constant, 1., std)
    standard = np.where(constant, 0., (inputs - mean) / std)
    design = np.concatenate([np.ones((len(target), 1)), standard], axis=1)
    penalty = ridge * weights.sum() * np.eye(design.shape[1])
    penalty[0, 0] = 0.
    gram = design.T @ (design * weights[:, None]) + penalty
    # least squares, not solve: a constant column (all 0 once standardised)
    # makes ``gram`` singular without ridge; it gets weight 0
    coef = np.linalg.lstsq(gram, design.T @ (weights * target), rcond=None)[0]
    return IoUCorrector(mean=mean, std=std, coef=coef)
