"""Multi-level features that also carry the network-input image.

The MaskIoU head's ``image_input`` option reads the pixels under each mask.
In mmdet's two-stage hosts the RoI head only sees the features ``x``, so a
detector of ours (:mod:`~mmdet_msrcnn.models.detectors.image_input`) returns
them from ``extract_feat`` as :class:`FeaturesWithImage`: the same tuple of
feature maps (every ``len``, slice, index and loop of mmdet's heads sees the
levels only) with the image as an attribute, read by name where it is used.
"""
from typing import Optional, Sequence

from torch import Tensor


class FeaturesWithImage(tuple):
    """A tuple of feature maps with the image they were computed from.

    Args:
        feats (Sequence[Tensor]): The levels, each (B, C, H_l, W_l).
        image (Tensor): The normalised, padded network input, (B, 3, H, W).
    """

    def __new__(cls, feats: Sequence[Tensor], image: Tensor):
        if isinstance(feats, Tensor):
            raise TypeError('FeaturesWithImage takes a sequence of feature '
                            'maps (one per level), not a single tensor.')
        obj = super().__new__(cls, feats)
        obj.image = image
        return obj

    def __reduce__(self):
        return (FeaturesWithImage, (tuple(self), self.image))


def image_of(x: Sequence[Tensor]) -> Optional[Tensor]:
    """The image carried by some features, or ``None`` for plain ones."""
    return getattr(x, 'image', None)
