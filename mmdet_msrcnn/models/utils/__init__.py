from .full_mask_iou import (full_mask_ious, gt_masks_as_tensor,
                            mask_box_grids, masks_to_boxes)
from .image_features import FeaturesWithImage, image_of
from .jitter import jitter_boxes
from .maskness import mask_maskness
from .overlap_decay import (OVERLAP_DECAY_KERNELS, OVERLAP_DECAY_MODES,
                            decay_mask_scores, mask_overlap_decay,
                            overlap_decay_kernel, overlap_decay_mode,
                            pairwise_mask_ious, strict_share)
from .mask_iou_target import (bitmap_areas_in_boxes, clip_boxes_to_masks,
                              gt_areas_in_and_out, mask_iou_from_areas,
                              pack_polygon_edges, polygon_areas_in_boxes)

__all__ = [
    'FeaturesWithImage', 'image_of',
    'jitter_boxes', 'mask_maskness', 'mask_overlap_decay',
    'OVERLAP_DECAY_MODES', 'OVERLAP_DECAY_KERNELS', 'decay_mask_scores',
    'overlap_decay_mode', 'overlap_decay_kernel', 'strict_share',
    'pairwise_mask_ious', 'full_mask_ious', 'gt_masks_as_tensor',
    'mask_box_grids', 'masks_to_boxes',
    'bitmap_areas_in_boxes', 'clip_boxes_to_masks', 'gt_areas_in_and_out',
    'mask_iou_from_areas', 'pack_polygon_edges', 'polygon_areas_in_boxes'
]
