from .shapes import (SHAPES_CLASSES, SHAPES_PALETTE, SHAPES_VERSION,
                     generate_shapes_dataset, render_shapes_image)

__all__ = [
    'SHAPES_CLASSES', 'SHAPES_PALETTE', 'SHAPES_VERSION',
    'generate_shapes_dataset', 'render_shapes_image'
]
