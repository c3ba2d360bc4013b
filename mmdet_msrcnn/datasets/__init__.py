from .checked_coco import (INVALID_MASK_MODES, CheckedCOCO,
                           CheckedCocoDataset, InvalidAnnotationWarning)
from .shapes import (SHAPES_CLASSES, SHAPES_PALETTE, SHAPES_VERSION,
                     generate_shapes_dataset, render_shapes_image)

__all__ = [
    'CheckedCOCO', 'CheckedCocoDataset', 'INVALID_MASK_MODES',
    'InvalidAnnotationWarning',
    'SHAPES_CLASSES', 'SHAPES_PALETTE', 'SHAPES_VERSION',
    'generate_shapes_dataset', 'render_shapes_image'
]
