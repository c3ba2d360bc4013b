"""Synthetic data generators (no dataset classes, nothing registered).

:mod:`.shapes` writes the deterministic COCO-format "shapes" set that the
demo, the tests and the ablations train on; it is read back with the
ordinary dataset classes of :mod:`mmdet_msrcnn.datasets`.
"""
from .shapes import (SHAPES_CLASSES, SHAPES_PALETTE, SHAPES_VERSION,
                     generate_shapes_dataset, render_shapes_image)

__all__ = [
    'SHAPES_CLASSES', 'SHAPES_PALETTE', 'SHAPES_VERSION',
    'generate_shapes_dataset', 'render_shapes_image'
]
