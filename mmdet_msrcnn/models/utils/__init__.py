from .maskness import mask_maskness
from .mask_iou_target import (bitmap_areas_in_boxes, clip_boxes_to_masks,
                              gt_areas_in_and_out, mask_iou_from_areas,
                              pack_polygon_edges, polygon_areas_in_boxes)

__all__ = [
    'mask_maskness',
    'bitmap_areas_in_boxes', 'clip_boxes_to_masks', 'gt_areas_in_and_out',
    'mask_iou_from_areas', 'pack_polygon_edges', 'polygon_areas_in_boxes'
]
