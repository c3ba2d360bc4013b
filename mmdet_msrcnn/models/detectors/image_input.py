"""Two-stage detectors whose RoI head also sees the network-input image.

mmdet's two-stage detectors hand their RoI head the neck's features only.
A MaskIoU head with ``image_input`` (it reads the pixels under each mask)
needs the image too, so these detectors override ``extract_feat``, the one
method every path of the host (``loss``, ``predict``, tensor-mode
``_forward``, and the exporters' rewrites of ``forward``) calls for the
features, and return them as
:class:`~mmdet_msrcnn.models.utils.FeaturesWithImage`: the same levels,
with the image as an attribute the scoring RoI heads read by name. The RPN
and the box and mask heads see the levels exactly as before; checkpoints
are the host's, so a trained ``MaskRCNN`` loads into
:class:`ImageInputMaskRCNN` unchanged (e.g. to upgrade it with
``tools/upgrade_scoring.py``).
"""
from mmdet.models.detectors import (CascadeRCNN, HybridTaskCascade, MaskRCNN,
                                    PointRend)
from torch import Tensor

from mmdet_msrcnn.registry import MODELS
from ..utils.image_features import FeaturesWithImage


class ImageInputMixin:
    """``extract_feat`` that also carries the image (put it first)."""

    def extract_feat(self, batch_inputs: Tensor) -> FeaturesWithImage:
        """The host's features, with ``batch_inputs`` as ``.image``.

        Args:
            batch_inputs (Tensor): The normalised, padded images,
                (B, 3, H, W).

        Returns:
            FeaturesWithImage: The neck's levels, each (B, C, H_l, W_l).
        """
        return FeaturesWithImage(super().extract_feat(batch_inputs),
                                 batch_inputs)


@MODELS.register_module()
class ImageInputMaskRCNN(ImageInputMixin, MaskRCNN):
    """mmdet's ``MaskRCNN`` handing the image to the RoI head."""


@MODELS.register_module()
class ImageInputCascadeRCNN(ImageInputMixin, CascadeRCNN):
    """mmdet's ``CascadeRCNN`` handing the image to the RoI head."""


@MODELS.register_module()
class ImageInputHybridTaskCascade(ImageInputMixin, HybridTaskCascade):
    """mmdet's ``HybridTaskCascade`` handing the image to the RoI head."""


@MODELS.register_module()
class ImageInputPointRend(ImageInputMixin, PointRend):
    """mmdet's ``PointRend`` handing the image to the RoI head."""
