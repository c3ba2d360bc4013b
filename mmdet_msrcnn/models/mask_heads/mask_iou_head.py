"""The MaskIoU head of Mask Scoring R-CNN."""
from typing import List, Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.config import ConfigDict
from mmengine.model import BaseModule
from mmengine.structures import InstanceData
from torch import Tensor

from mmdet_msrcnn.registry import MODELS
from .mask_image_stem import MaskImageStem
from ..utils.mask_iou_target import (batch_gt_areas_in_and_out,
                                     boxes_near_extents, chunked_mask_target,
                                     clip_boxes_to_masks, gt_areas_in_and_out,
                                     gt_mask_extents, mask_iou_from_areas)

try:  # mmdet's config types, for the signatures
    from mmdet.utils import ConfigType, InstanceList, OptMultiConfig
except ImportError:  # pragma: no cover
    ConfigType = InstanceList = OptMultiConfig = object

#: MaskIoU head inputs (paper, Table 4). The high-resolution-feature variant
#: (d) is ``'concat'`` with a ``mask_iou_roi_extractor`` of mask size in the
#: RoI head.
INPUT_MODES = ('concat', 'multiply', 'concat_all_classes', 'mask_only',
               'feature_only')
#: Which outputs are regressed (paper, Table 5): #1 the ground-truth class,
#: #2 every class with target 0 for the others, #3 the classes present in the
#: RoI (see :meth:`MaskIoUHead.get_targets`).
TARGET_MODES = ('gt_class', 'all_classes', 'present_classes')

#: ``box_size_input``: two input planes, log2 of the box width and height
#: over this many network-input pixels (0 for a 32-pixel side).
BOX_SIZE_PLANES = 2
BOX_SIZE_REFERENCE = 32.0

#: Target of the (RoI, class) pairs that ``'present_classes'`` does not
#: regress.
NOT_REGRESSED = -1.0


class MMDetRoIHeadError(ValueError, TypeError):
    """Our MaskIoU head driven by mmdet's own ``MaskScoringRoIHead``."""

    def __init__(self) -> None:
        super().__init__(
            "mmdet_msrcnn.MaskIoUHead is driven by mmdet_msrcnn's RoI heads, "
            "but it was called by mmdet's MaskScoringRoIHead, which feeds "
            'mask logits where this head expects probabilities (after '
            'sigmoid) and calls another interface: a config with roi_head '
            "type='MaskScoringRoIHead' (no scope prefix) builds mmdet's "
            "class. Set roi_head.type='mmdet_msrcnn.MaskScoringRoIHead'.")


def attach_mask_scores(results: InstanceData,
                       mask_ious: Tensor,
                       mask_score_as_score: bool = False,
                       power: float = 1.0) -> InstanceData:
    """Write ``mask_ious`` and ``mask_scores = scores * mask_ious**power``.

    Args:
        results (InstanceData): Detections of one image, with ``scores``
            (N,).
        mask_ious (Tensor): The MaskIoU estimate of each detection, (N,),
            in [0, 1].
        mask_score_as_score (bool): Also write the mask score into
            ``scores``. Defaults to False.
        power (float): Exponent of the MaskIoU in the product (1: the
            paper's ``scores * mask_ious``). Defaults to 1.

    Returns:
        InstanceData: ``results``, changed in place.
    """
    results.mask_ious = mask_ious.to(results.scores.dtype)
    results.mask_scores = results.scores * (
        results.mask_ious if power == 1 else results.mask_ious**power)
    if mask_score_as_score:
        results.scores = results.mask_scores
    return results


def image_indices(counts: Sequence[int], device=None) -> Tensor:
    """Image index of each item of a batch, from the per-image counts.

    Args:
        counts (Sequence[int]): Items per image, e.g. ``[2, 0, 1]``.
        device (torch.device, optional): Of the result.

    Returns:
        Tensor: Long, shape (sum(counts),), e.g. ``[0, 0, 2]``.
    """
    return torch.repeat_interleave(
        torch.arange(len(counts), device=device),
        torch.as_tensor(list(counts), dtype=torch.long, device=device))


RANK_LOSS_DEFAULTS = dict(loss_weight=1.0, min_gap=0.05, min_target=0.1)
SCORE_RANK_LOSS_DEFAULTS = dict(loss_weight=1.0, min_gap=0.02)


def _parse_pair_loss(name: str, cfg: Optional[dict],
                     defaults: dict) -> Optional[dict]:
    """Check ``MaskIoUHead(<name>=cfg)`` of a pairwise loss, fill defaults.

    ``loss_weight`` must be positive, every other key (gaps, targets) in
    [0, 1).
    """
    if cfg is None:
        return None
    unknown = set(cfg) - set(defaults)
    if unknown:
        raise ValueError(
            f'MaskIoUHead: {name} has unknown keys {sorted(unknown)}; it '
            f'takes {sorted(defaults)}.')
    out = {k: float(cfg.get(k, v)) for k, v in defaults.items()}
    bounded = [k for k in out if k != 'loss_weight']
    if out['loss_weight'] <= 0 or any(not 0 <= out[k] < 1 for k in bounded):
        raise ValueError(
            f'MaskIoUHead: {name}={cfg!r}: loss_weight must be positive, '
            f'{", ".join(bounded)} in [0, 1).')
    return out


def _conv_out_size(size: int, stride: int) -> int:
    """Output size of a 3x3 convolution with padding 1."""
    return (size + 2 - 3) // stride + 1


@MODELS.register_module()
class MaskIoUHead(BaseModule):
    """Predict the IoU of each predicted mask with its ground truth.

    The input is the RoI feature (``in_channels x S x S``, S =
    ``roi_feat_size``) concatenated with the predicted mask probability of
    the target class resized to ``S x S`` (max pooling 2x2 when the mask is
    ``2S x 2S``, as in the paper). ``num_convs`` 3x3 convolutions (the last
    with stride 2) and ``num_fcs`` fully connected layers follow, then one
    output per class.

    Args:
        num_classes (int): Number of classes, as the bbox head's.
            Defaults to 80.
        num_convs (int): Number of 3x3 convolutions. Defaults to 4.
        num_fcs (int): Number of hidden fully connected layers.
            Defaults to 2.
        roi_feat_size (int): Side S of the RoI feature. Defaults to 14.
        mask_size (int, optional): Side of the predicted mask in training
            (the mask head's output, ``train_cfg.rcnn.mask_size``); the
            mask scoring RoI heads check it against their train config when
            they are built. ``None`` means ``2 * roi_feat_size``. Any square
            mask is accepted by :meth:`forward` (pooled or resized to
            ``roi_feat_size``), e.g. PointRend's refined masks at test time.
        in_channels (int): Channels of the RoI feature. Defaults to 256.
        conv_out_channels (int): Channels of the convolutions.
            Defaults to 256.
        fc_out_channels (int): Width of the hidden fc layers.
            Defaults to 1024.
        input_mode (str): One of :data:`INPUT_MODES` (paper Table 4):
            ``'concat'`` target mask concatenated with the feature
            [default], ``'multiply'`` feature times target mask,
            ``'concat_all_classes'`` all classes' masks concatenated,
            ``'mask_only'``, ``'feature_only'``.
        target_mode (str): One of :data:`TARGET_MODES` (paper Table 5):
            ``'gt_class'`` regresses the ground-truth class output only
            [default]; ``'all_classes'`` every output, with target 0 for
            the other classes; ``'present_classes'`` the outputs of the
            classes with a ground-truth instance inside the RoI, each
            against its own instance (see :meth:`get_targets`).
        iou_thr (float, optional): Train only on RoIs whose target IoU (of
            the ground-truth class) is above it (paper Table 6); the other
            RoIs are left out with all their outputs. ``None`` uses every
            positive RoI.
        loss_iou (dict): Regression loss; mean over the regressed
            (RoI, class) pairs. Defaults to ``MSELoss`` with weight 1.
        balance_bins (int, optional): Balance the regression over this many
            equal-width target bins on [0, 1] (IoU-Net style): each
            regressed pair is weighted by 1 / (number of pairs in its bin),
            and the loss is the weighted sum divided by the sum of the
            weights, so every occupied bin counts equally and the many
            near-zero targets of non-positive RoIs do not swamp the rest.
            ``None`` (default) is the plain mean.
        rank_loss (dict, optional): Add a pairwise ranking loss among the
            regressed RoIs of the same image and class, logged as
            ``loss_mask_iou_rank``: for every pair whose targets differ by
            more than ``min_gap`` (default 0.05) and whose lower target is
            at least ``min_target`` (default 0.1, so the pairs are hits),
            the hinge ``max(0, (t_i - t_j) - (p_i - p_j))``: zero once the
            predictions are at least as far apart as the targets, in the
            right order; averaged over the pairs and weighted by
            ``loss_weight`` (default 1). It works against the compression
            of the regression (it orders the hits, which AP rewards).
            Regresses the ground-truth class output (any ``target_mode``).
            ``None`` (default): no ranking loss, as in the paper.
        score_rank_loss (dict, optional): Add a pairwise ranking loss on
            the *mask scores* of the model's own detections (it needs the
            RoI head's ``mask_iou_detections``; logged as
            ``loss_mask_iou_dets_score_rank``): AP sorts the detections of
            a class over all images by ``m = c x p`` (cls score times
            predicted IoU), so for every pair of detections of one class
            in the batch (any images) whose oracle scores ``o = c x t``
            differ by more than ``min_gap`` (default 0.02), the hinge
            ``max(0, (o_i - o_j) - (m_i - m_j))``, averaged over the pairs
            and weighted by ``loss_weight`` (default 1). Unlike
            ``rank_loss`` it weighs each detection by its cls score, as AP
            does, and pairs false positives with hits. ``None`` (default):
            off.
        box_size_input (bool): Also feed the head the size of each RoI's
            box, which RoIAlign's fixed ``S x S`` grid hides: two constant
            planes, ``log2(w / 32)`` and ``log2(h / 32)`` (w, h in
            network-input pixels, at least 1), concatenated to the input of
            the first convolution. The IoU a mask can reach depends on the
            object's size in pixels (its boundary pixels weigh more in a
            small one), so the head can learn a size-dependent correction
            (on nuclei it moved the headroom by under a point: the
            head's error there is not biased by size; docs/ranking.md).
            :meth:`forward` then needs the RoIs. Defaults to False (the
            paper's input).
        image_input (dict, optional): Also feed the head the pixels under
            each mask (:class:`~.mask_image_stem.MaskImageStem`, keys
            ``in_channels`` (3), ``out_channels`` (16), ``context`` (4),
            ``normalize`` (True), ``binary_mask`` and ``ring_contrast``
            (False), ``ring`` (2), ``mask_thr`` (0.5)): the network-input
            image RoIAligned on the RoI enlarged by ``context`` mask cells
            per side, at the mask's resolution, stacked with the predicted
            mask (and, with ``binary_mask``, the mask binarised) and
            convolved to ``out_channels`` planes of the ``S x S`` grid (on
            the grid of a ``2S x 2S`` mask; other mask sizes are resized);
            ``ring_contrast`` adds one constant plane per image channel,
            the contrast of the binarised mask with a ring around it. The
            RoI head passes the crops (:meth:`crop_image`); it needs a
            detector that hands it the image,
            ``mmdet_msrcnn.ImageInputMaskRCNN`` and its siblings.
            ``input_mode='concat'`` only. ``None`` (default): the paper's
            input.
        init_cfg (dict | list[dict], optional): Initialisation config.
    """

    def __init__(self,
                 num_classes: int = 80,
                 num_convs: int = 4,
                 num_fcs: int = 2,
                 roi_feat_size: int = 14,
                 mask_size: Optional[int] = None,
                 in_channels: int = 256,
                 conv_out_channels: int = 256,
                 fc_out_channels: int = 1024,
                 input_mode: str = 'concat',
                 target_mode: str = 'gt_class',
                 iou_thr: Optional[float] = None,
                 loss_iou: ConfigType = dict(type='MSELoss', loss_weight=1.0),
                 balance_bins: Optional[int] = None,
                 rank_loss: Optional[dict] = None,
                 score_rank_loss: Optional[dict] = None,
                 box_size_input: bool = False,
                 image_input: Optional[dict] = None,
                 init_cfg: OptMultiConfig = [
                     dict(type='Kaiming', override=dict(name='convs')),
                     dict(type='Caffe2Xavier', override=dict(name='fcs')),
                     dict(
                         type='Normal',
                         std=0.01,
                         override=dict(name='fc_mask_iou'))
                 ]) -> None:
        super().__init__(init_cfg=init_cfg)
        if input_mode not in INPUT_MODES:
            raise ValueError(
                f'MaskIoUHead: unknown input_mode={input_mode!r}; choose one '
                f'of {INPUT_MODES} (paper Table 4).')
        if target_mode not in TARGET_MODES:
            raise ValueError(
                f'MaskIoUHead: unknown target_mode={target_mode!r}; choose '
                f'one of {TARGET_MODES} (paper Table 5).')
        if iou_thr is not None and not 0 <= iou_thr < 1:
            raise ValueError(
                f'MaskIoUHead: iou_thr={iou_thr} must be None (all positive '
                'RoIs) or in [0, 1).')
        for name, value in (('num_classes', num_classes),
                            ('roi_feat_size', roi_feat_size),
                            ('num_convs', num_convs),
                            ('in_channels', in_channels)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(
                    f'MaskIoUHead: {name}={value!r} must be a positive int.')
        if balance_bins is not None and (not isinstance(balance_bins, int)
                                         or balance_bins < 1):
            raise ValueError(
                f'MaskIoUHead: balance_bins={balance_bins!r} must be None '
                'or a positive int.')
        self.balance_bins = balance_bins
        self.rank_loss = _parse_pair_loss('rank_loss', rank_loss,
                                          RANK_LOSS_DEFAULTS)
        self.score_rank_loss = _parse_pair_loss('score_rank_loss',
                                                score_rank_loss,
                                                SCORE_RANK_LOSS_DEFAULTS)
        self.num_classes = num_classes
        self.roi_feat_size = roi_feat_size
        self.mask_size = mask_size or 2 * roi_feat_size
        self.in_channels = in_channels
        self.input_mode = input_mode
        self.target_mode = target_mode
        self.iou_thr = iou_thr
        self.box_size_input = bool(box_size_input)

        if input_mode == 'concat':
            first_in = in_channels + 1
        elif input_mode == 'concat_all_classes':
            first_in = in_channels + num_classes
        elif input_mode == 'mask_only':
            first_in = 1
        else:  # multiply, feature_only
            first_in = in_channels
        if self.box_size_input:
            first_in += BOX_SIZE_PLANES
        self.image_stem = self._build_image_stem(image_input)
        if self.image_stem is not None:
            first_in += self.image_stem.num_planes
        self.convs = nn.ModuleList()
        size = roi_feat_size
        for i in range(num_convs):
            stride = 2 if i == num_convs - 1 else 1
            self.convs.append(
                nn.Conv2d(
                    first_in if i == 0 else conv_out_channels,
                    conv_out_channels,
                    3,
                    stride=stride,
                    padding=1))
            size = _conv_out_size(size, stride)
        self.fcs = nn.ModuleList()
        fc_in = conv_out_channels * size * size
        for i in range(num_fcs):
            self.fcs.append(
                nn.Linear(fc_in if i == 0 else fc_out_channels,
                          fc_out_channels))
        self.fc_mask_iou = nn.Linear(
            fc_out_channels if num_fcs else fc_in, num_classes)
        self.loss_iou = MODELS.build(loss_iou)

    def _build_image_stem(self,
                          image_input: Optional[dict]) -> Optional[nn.Module]:
        """The ``image_input`` stem, or ``None``."""
        if image_input is None:
            return None
        if not isinstance(image_input, dict):
            raise TypeError(
                f'MaskIoUHead: image_input={image_input!r} must be None or '
                'a dict, e.g. dict(out_channels=16, context=4).')
        if self.input_mode != 'concat':
            raise ValueError(
                "MaskIoUHead: image_input needs input_mode='concat' (the "
                'stem reads the target mask), got '
                f'input_mode={self.input_mode!r}.')
        known = ('in_channels', 'out_channels', 'context', 'normalize',
                 'binary_mask', 'ring_contrast', 'ring', 'mask_thr')
        unknown = sorted(set(image_input) - set(known))
        if unknown:
            raise ValueError(f'MaskIoUHead: unknown image_input keys '
                             f'{unknown}; choose from {known}.')
        return MaskImageStem(roi_feat_size=self.roi_feat_size, **image_input)

    @property
    def with_image_input(self) -> bool:
        """Whether :meth:`forward` needs the image crops."""
        return self.image_stem is not None

    def crop_image(self, image: Tensor, rois: Tensor) -> Tensor:
        """The ``image_input`` crops of some RoIs.

        Args:
            image (Tensor): The network input, (B, C, H, W).
            rois (Tensor): (N, 5) RoIs in network-input pixels.

        Returns:
            Tensor: (N, C, G, G), G = mask size + 2 x context.
        """
        if self.image_stem is None:
            raise ValueError('MaskIoUHead.crop_image needs image_input; '
                             'this head was built without it.')
        return self.image_stem.crop(image, rois)

    # ------------------------------------------------------------------
    # forward
    def _resize_mask(self, mask_probs: Tensor) -> Tensor:
        """Bring (N, K, M, M) mask probabilities to the RoI feature size."""
        size = self.roi_feat_size
        m = mask_probs.shape[-1]
        if m == size:
            return mask_probs
        if m == 2 * size:
            return F.max_pool2d(mask_probs, kernel_size=2, stride=2)
        if m > size:
            return F.adaptive_max_pool2d(mask_probs, size)
        return F.interpolate(
            mask_probs, size=(size, size), mode='bilinear',
            align_corners=False)

    def box_size_planes(self, rois: Tensor) -> Tensor:
        """The ``box_size_input`` planes of some RoIs.

        Args:
            rois (Tensor): ``(N, 5)`` RoIs (image index, x1, y1, x2, y2) or
                ``(N, 4)`` boxes, in network-input pixels.

        Returns:
            Tensor: ``(N, 2, S, S)``: ``log2(w / 32)`` and ``log2(h / 32)``
            of each box (sides of at least one pixel), constant over the
            ``S x S`` grid.
        """
        if rois.dim() != 2 or rois.shape[1] not in (4, 5):
            raise ValueError(
                'MaskIoUHead(box_size_input=True) needs the RoIs as (N, 5) '
                '(image index, x1, y1, x2, y2) or (N, 4) boxes; got shape '
                f'{tuple(rois.shape)}.')
        boxes = rois[:, -4:]
        sides = (boxes[:, 2:] - boxes[:, :2]).clamp(min=1.0)
        sizes = torch.log2(sides / BOX_SIZE_REFERENCE)
        size = self.roi_feat_size
        return sizes[:, :, None, None].expand(-1, -1, size, size)

    def forward(self,
                roi_feats: Tensor,
                mask_probs: Tensor,
                rois: Optional[Tensor] = None,
                image_crops: Optional[Tensor] = None) -> Tensor:
        """Predict per-class MaskIoU.

        Args:
            roi_feats (Tensor): RoI features, shape (N, C, S, S).
            mask_probs (Tensor): Mask probabilities (after sigmoid) of the
                target class, shape (N, M, M), or of all classes,
                shape (N, num_classes, M, M), for
                ``input_mode='concat_all_classes'``.
            rois (Tensor, optional): The RoIs the features were pooled
                from, (N, 5) or (N, 4) boxes in network-input pixels; read
                only with ``box_size_input=True``, which needs them.
            image_crops (Tensor, optional): :meth:`crop_image` of the RoIs,
                (N, C, G, G); needed with ``image_input``, refused without.

        Returns:
            Tensor: MaskIoU predictions (unclamped), shape (N, num_classes).
        """
        expected = (self.in_channels, self.roi_feat_size, self.roi_feat_size)
        if tuple(roi_feats.shape[1:]) != expected:
            raise ValueError(
                'MaskIoUHead got RoI features of shape '
                f'{tuple(roi_feats.shape[1:])} but its config expects '
                f'{expected} (in_channels, roi_feat_size, roi_feat_size). '
                'Set mask_iou_head.in_channels to the mask RoI extractor\'s '
                'out_channels and mask_iou_head.roi_feat_size to its '
                'roi_layer.output_size.')
        self._check_mask_input(roi_feats, mask_probs)
        if mask_probs.dim() == 3:
            mask_probs = mask_probs.unsqueeze(1)
        mask_probs = mask_probs.to(roi_feats.dtype)
        image_planes = self._image_planes(image_crops, mask_probs)
        mask_probs = self._resize_mask(mask_probs)
        if self.input_mode == 'concat':
            x = torch.cat([roi_feats, mask_probs[:, :1]], dim=1)
        elif self.input_mode == 'concat_all_classes':
            x = torch.cat([roi_feats, mask_probs], dim=1)
        elif self.input_mode == 'multiply':
            x = roi_feats * mask_probs[:, :1]
        elif self.input_mode == 'mask_only':
            x = mask_probs[:, :1]
        else:
            x = roi_feats
        if self.box_size_input:
            if rois is None or rois.shape[0] != roi_feats.shape[0]:
                raise ValueError(
                    'MaskIoUHead(box_size_input=True) reads the size of each '
                    'RoI: call it as head(roi_feats, mask_probs, rois) with '
                    f'one RoI per feature ({roi_feats.shape[0]}), got '
                    f'{"none" if rois is None else rois.shape[0]}.')
            x = torch.cat(
                [x, self.box_size_planes(rois).to(x.dtype)], dim=1)
        if image_planes is not None:
            x = torch.cat([x, image_planes], dim=1)
        for conv in self.convs:
            x = F.relu(conv(x))
        x = x.flatten(1)
        for fc in self.fcs:
            x = F.relu(fc(x))
        return self.fc_mask_iou(x)

    def _image_planes(self, image_crops: Optional[Tensor],
                      mask_probs: Tensor) -> Optional[Tensor]:
        """The stem's planes (N, num_planes, S, S), or ``None``."""
        if self.image_stem is None:
            if image_crops is not None:
                raise ValueError(
                    'MaskIoUHead got image crops but was built without '
                    'image_input; set mask_iou_head.image_input=dict() to '
                    'use them, or do not pass them.')
            return None
        if image_crops is None:
            raise ValueError(
                'MaskIoUHead(image_input=...) reads the pixels under each '
                'mask: call it as head(roi_feats, mask_probs, rois, '
                'image_crops) with image_crops = head.crop_image(image, '
                'rois); in a detector, use one that hands the RoI head the '
                "image (type='mmdet_msrcnn.ImageInputMaskRCNN' and its "
                'siblings).')
        return self.image_stem(image_crops, mask_probs[:, :1])

    def _check_mask_input(self, roi_feats: Tensor, mask_probs: Tensor) -> None:
        """Raise a clear error for masks that do not fit the head.

        Any square mask size is resized to the RoI feature size, so only the
        layout is checked: one mask per RoI, one channel (the target class)
        or ``num_classes`` channels for ``'concat_all_classes'``, and values
        that are probabilities. mmdet's own ``MaskScoringRoIHead`` feeds
        logits, which is what a config naming the RoI head without the
        ``mmdet_msrcnn.`` prefix ends up doing.

        Args:
            roi_feats (Tensor): RoI features, shape (N, C, S, S).
            mask_probs (Tensor): The ``forward`` mask input.
        """
        shape = tuple(mask_probs.shape)
        want = self.num_classes \
            if self.input_mode == 'concat_all_classes' else 1
        layout = '(N, M, M)' if want == 1 else f'(N, {want}, M, M)'
        if (mask_probs.dim() not in (3, 4) or shape[-1] != shape[-2]
                or shape[0] != roi_feats.shape[0]
                or (mask_probs.dim() == 4 and shape[1] != want)):
            raise ValueError(
                f'MaskIoUHead(input_mode={self.input_mode!r}) got masks of '
                f'shape {shape} for {roi_feats.shape[0]} RoIs; expected '
                f'{layout}: one square mask per RoI' +
                (' for each of the num_classes classes (use a '
                 'class-specific mask head with the same num_classes).'
                 if want > 1 else ', of its target class.'))
        if mask_probs.numel() == 0 or mask_probs.device.type != 'cpu':
            # on an accelerator the value check would stall the stream on
            # every forward; there the two entry points below catch mmdet's
            # RoI head instead
            return
        low, high = torch.aminmax(mask_probs.detach())
        if bool(low < 0) or bool(high > 1):
            raise ValueError(
                f'MaskIoUHead got mask values in [{float(low):.3g}, '
                f'{float(high):.3g}]; it expects probabilities (after '
                'sigmoid). If the RoI head is mmdet\'s MaskScoringRoIHead '
                "(type='MaskScoringRoIHead' without the scope prefix), set "
                "roi_head.type='mmdet_msrcnn.MaskScoringRoIHead'.")

    # mmdet's MaskScoringRoIHead drives its own MaskIoU head through these
    # two names; ours has another interface and refuses them clearly.
    def loss_and_target(self, *args, **kwargs):
        """Refuse mmdet's ``MaskScoringRoIHead`` calling convention."""
        raise MMDetRoIHeadError()

    def predict_by_feat(self, *args, **kwargs):
        """Refuse mmdet's ``MaskScoringRoIHead`` calling convention."""
        raise MMDetRoIHeadError()

    # ------------------------------------------------------------------
    # training
    def get_targets(self,
                    pos_mask_probs: Tensor,
                    mask_targets: Tensor,
                    sampling_results: Sequence,
                    batch_gt_instances: InstanceList,
                    mask_thr_binary: float = 0.5,
                    all_mask_probs: Optional[Tensor] = None) -> Tensor:
        """MaskIoU targets of the positive RoIs of a batch.

        The IoU of the predicted mask binarised on the probability
        (``>= mask_thr_binary``) with the whole ground-truth instance; the
        ground-truth area outside the RoI enters the union exactly (see
        :mod:`mmdet_msrcnn.models.utils.mask_iou_target`).

        With ``target_mode='present_classes'`` (paper Table 5, #3) the
        targets cover every class, shape (P, K). For a positive RoI ``r``
        with box ``b`` (its prior clipped to the image, as for the mask
        target) and ground-truth class ``y``:

        - class ``y`` is regressed with the usual target (its assigned
          instance);
        - another class ``c`` is *present* in ``r`` when an instance of
          class ``c`` in the image has a mask area inside ``b`` greater than
          0 (exact areas, as for the usual target). Its target is the IoU of
          the predicted mask of class ``c`` on ``r`` (binarised at
          ``mask_thr_binary``) with the whole instance of class ``c`` that
          has the largest area inside ``b`` (the lowest index on ties); its
          in-box part is rasterised on the RoI grid as mmdet's
          ``mask_target`` does;
        - the other classes are not regressed: their entry is
          :data:`NOT_REGRESSED` (-1).

        Args:
            pos_mask_probs (Tensor): Probabilities of the ground-truth class
                mask, shape (P, M, M).
            mask_targets (Tensor): Mask targets of the positive RoIs,
                shape (P, M, M).
            sampling_results (list[SamplingResult]): Per image, with
                ``pos_priors`` (P_i, 4), ``pos_assigned_gt_inds`` (P_i,)
                and, for ``'present_classes'``, ``pos_gt_labels`` (P_i,).
            batch_gt_instances (list[InstanceData]): Per image, with
                ``masks`` (BitmapMasks, PolygonMasks or a bool tensor) and,
                for ``'present_classes'``, ``labels`` (G_i,).
            mask_thr_binary (float): Binarisation threshold of the predicted
                probability. Defaults to 0.5.
            all_mask_probs (Tensor, optional): Mask probabilities of every
                class, shape (P, K, M, M) (or (P, 1, M, M) for a
                class-agnostic mask head). Needed for
                ``target_mode='present_classes'`` only.

        Returns:
            Tensor: Targets in [0, 1] of the ground-truth class, shape (P,);
            for ``'present_classes'``, of every class, shape (P, K), with -1
            for the pairs that are not regressed.
        """
        pairs = list(zip(sampling_results, batch_gt_instances))
        boxes = [
            clip_boxes_to_masks(res.pos_priors, gt.masks) for res, gt in pairs
        ]
        # the images' bitmaps are looked up together
        inside, whole = batch_gt_areas_in_and_out(
            [gt.masks for _, gt in pairs],
            [res.pos_assigned_gt_inds for res, _ in pairs], boxes)
        boxes = [box.to(pos_mask_probs.device) for box in boxes]
        targets = mask_iou_from_areas(
            pos_mask_probs.detach().float(), mask_targets.float(),
            torch.cat(boxes),
            torch.cat(inside).to(pos_mask_probs.device),
            torch.cat(whole).to(pos_mask_probs.device), mask_thr_binary)
        if self.target_mode != 'present_classes':
            return targets
        if all_mask_probs is None:
            raise ValueError(
                "MaskIoUHead(target_mode='present_classes') needs the mask "
                'probabilities of every class: pass `all_mask_probs` '
                '(P, K, M, M) to get_targets.')
        return self._present_class_targets(targets, all_mask_probs, boxes,
                                           sampling_results,
                                           batch_gt_instances,
                                           mask_thr_binary)

    def _present_class_targets(self, gt_class_targets: Tensor,
                               all_mask_probs: Tensor, boxes: List[Tensor],
                               sampling_results: Sequence,
                               batch_gt_instances: InstanceList,
                               mask_thr_binary: float) -> Tensor:
        """(P, K) targets of ``target_mode='present_classes'``.

        Args:
            gt_class_targets (Tensor): Usual targets, shape (P,).
            all_mask_probs (Tensor): Shape (P, K, M, M) or (P, 1, M, M).
            boxes (list[Tensor]): Clipped RoI boxes per image, (P_i, 4).
            sampling_results (list[SamplingResult]): As in
                :meth:`get_targets`.
            batch_gt_instances (list[InstanceData]): As in
                :meth:`get_targets`.
            mask_thr_binary (float): Threshold of the predicted mask.

        Returns:
            Tensor: Shape (P, K), :data:`NOT_REGRESSED` where not regressed.
        """
        probs = all_mask_probs.detach().float()
        num_pos, num_classes = probs.shape[0], self.num_classes
        if probs.shape[1] == 1:  # class-agnostic mask head
            probs = probs.expand(-1, num_classes, -1, -1)
        device = probs.device
        labels = torch.cat([res.pos_gt_labels for res in sampling_results
                            ]).long().to(device)
        targets = probs.new_full((num_pos, num_classes), NOT_REGRESSED)
        targets[torch.arange(num_pos, device=device),
                labels] = gt_class_targets.to(targets.dtype)
        cfg = ConfigDict(mask_size=tuple(probs.shape[-2:]))
        start = 0
        for res, gt, box in zip(sampling_results, batch_gt_instances, boxes):
            num = box.shape[0]
            rows, gt_inds = self._largest_other_instances(
                gt, box, labels[start:start + num], num_classes)
            if rows.numel():
                pair_boxes = box[rows]
                other_targets = chunked_mask_target(
                    pair_boxes, gt_inds, gt.masks, cfg.mask_size).to(device)
                area_in, area_all = gt_areas_in_and_out(
                    gt.masks, gt_inds, pair_boxes)
                classes = gt.labels.to(device).long()[gt_inds]
                rows = rows + start
                targets[rows, classes] = mask_iou_from_areas(
                    probs[rows, classes], other_targets, pair_boxes,
                    area_in.to(device), area_all.to(device), mask_thr_binary)
            start += num
        return targets

    @staticmethod
    def _largest_other_instances(gt: InstanceData, boxes: Tensor,
                                 roi_labels: Tensor, num_classes: int):
        """Per RoI and other present class, the instance largest in the box.

        Args:
            gt (InstanceData): Ground truth of one image, with ``masks`` and
                ``labels`` (G,).
            boxes (Tensor): Clipped RoI boxes, shape (R, 4).
            roi_labels (Tensor): Ground-truth class of each RoI, (R,).
            num_classes (int): Number of classes K.

        Returns:
            tuple[Tensor, Tensor]: For each (RoI, class) pair with a class
            other than the RoI's present in its box, the RoI index and the
            index of the instance of that class with the largest area in the
            box (lowest index on ties), each of shape (Q,).
        """
        device = boxes.device
        empty = boxes.new_zeros(0, dtype=torch.long)
        num_gts = len(gt.labels)
        if boxes.shape[0] == 0 or num_gts == 0:
            return empty, empty
        gt_labels = gt.labels.to(device).long()
        # every (RoI, instance of another class) pair, instance-major order
        rows, gt_inds = (gt_labels[None, :] != roi_labels[:, None]).nonzero(
            as_tuple=True)
        if rows.numel() == 0:
            return empty, empty
        area_in, _ = gt_areas_in_and_out(gt.masks, gt_inds, boxes[rows])
        area_in = area_in.to(device)
        present = area_in > 0
        rows, gt_inds, area_in = rows[present], gt_inds[present], \
            area_in[present]
        # within each (RoI, class) group keep the largest area; stable sorts
        # keep the lowest instance index first among equal areas
        order = torch.sort(-area_in, stable=True)[1]
        key = rows[order] * num_classes + gt_labels[gt_inds[order]]
        order = order[torch.sort(key, stable=True)[1]]
        key = rows[order] * num_classes + gt_labels[gt_inds[order]]
        first = torch.ones_like(key, dtype=torch.bool)
        first[1:] = key[1:] != key[:-1]
        order = order[first]
        return rows[order], gt_inds[order]

    def loss(self,
             mask_iou_preds: Tensor,
             iou_targets: Tensor,
             pos_labels: Tensor,
             img_inds: Optional[Tensor] = None) -> dict:
        """L2 loss of the regressed MaskIoU outputs.

        Args:
            mask_iou_preds (Tensor): All class outputs, shape (P, K).
            iou_targets (Tensor): Targets of the ground-truth class, (P,),
                or, for ``target_mode='present_classes'``, of every class,
                (P, K) with -1 for the pairs that are not regressed (see
                :meth:`get_targets`).
            pos_labels (Tensor): Ground-truth class of each RoI, (P,).
            img_inds (Tensor, optional): Image of each RoI in the batch,
                (P,); needed with ``rank_loss`` (pairs never cross images).

        Returns:
            dict[str, Tensor]: ``loss_mask_iou``, the mean over the regressed
            (RoI, class) pairs; 0 (with gradients reaching every parameter)
            when there are none. With ``rank_loss`` also
            ``loss_mask_iou_rank`` (see :meth:`ranking_loss`).
        """
        losses = self._regression_loss_dict(mask_iou_preds, iou_targets,
                                            pos_labels)
        if self.rank_loss is not None:
            losses['loss_mask_iou_rank'] = self._gt_class_ranking_loss(
                mask_iou_preds, iou_targets, pos_labels, img_inds)
        return losses

    def _gt_class_ranking_loss(self, mask_iou_preds: Tensor,
                               iou_targets: Tensor, pos_labels: Tensor,
                               img_inds: Optional[Tensor]) -> Tensor:
        """:meth:`ranking_loss` of the ground-truth class outputs."""
        if img_inds is None:
            raise ValueError(
                'MaskIoUHead(rank_loss=...) pairs RoIs of one image only: '
                'pass img_inds to loss().')
        rows = torch.arange(pos_labels.numel(), device=pos_labels.device)
        targets = (iou_targets[rows, pos_labels]
                   if iou_targets.dim() == 2 else iou_targets)
        preds = mask_iou_preds[rows, pos_labels]
        keep = (targets >= 0) if self.iou_thr is None else (
            targets > self.iou_thr)
        loss = self.image_class_ranking_loss(preds[keep], targets[keep],
                                             pos_labels[keep],
                                             img_inds.to(rows.device)[keep])
        return loss + mask_iou_preds.sum() * 0

    def image_class_ranking_loss(self, preds: Tensor, targets: Tensor,
                                 labels: Tensor, img_inds: Tensor) -> Tensor:
        """:meth:`ranking_loss` with one group per (image, class).

        Args:
            preds (Tensor): Predicted MaskIoU of each RoI's class, (Q,).
            targets (Tensor): Their targets, (Q,).
            labels (Tensor): Class of each RoI, (Q,).
            img_inds (Tensor): Image of each RoI in the batch, (Q,), e.g.
                from :func:`image_indices`.
        """
        groups = img_inds.long() * self.num_classes + labels.long()
        return self.ranking_loss(preds, targets, groups)

    def ranking_loss(self, preds: Tensor, targets: Tensor,
                     groups: Tensor) -> Tensor:
        """Pairwise hinge between RoIs of one group (image and class).

        Args:
            preds (Tensor): Predicted MaskIoU, (Q,).
            targets (Tensor): Their targets, (Q,).
            groups (Tensor): Group id of each RoI, (Q,); pairs never cross
                groups.

        Returns:
            Tensor: ``loss_weight`` x the mean over the pairs ``(i, j)`` of
            one group with ``t_i - t_j > min_gap`` and ``t_j >=
            min_target`` of ``max(0, (t_i - t_j) - (p_i - p_j))``; 0 (in the
            graph) without such a pair.
        """
        cfg = self.rank_loss
        preds, targets = preds.float(), targets.float().detach()
        gap = targets[:, None] - targets[None, :]
        pairs = ((groups[:, None] == groups[None, :]) & (gap > cfg['min_gap'])
                 & (targets[None, :] >= cfg['min_target']))
        if not bool(pairs.any()):
            return preds.sum() * 0
        hinge = (gap - (preds[:, None] - preds[None, :])).clamp(min=0)
        return hinge[pairs].mean() * cfg['loss_weight']

    def score_ranking_loss(self, preds: Tensor, targets: Tensor,
                           scores: Tensor, labels: Tensor) -> Tensor:
        """Pairwise hinge on the mask scores of detections of one class.

        Args:
            preds (Tensor): Predicted MaskIoU of each detection's class,
                (Q,).
            targets (Tensor): Their targets (true IoU), (Q,).
            scores (Tensor): Their classification scores, (Q,).
            labels (Tensor): Their classes, (Q,); pairs never cross
                classes (AP ranks each class on its own), and do cross
                images.

        Returns:
            Tensor: ``loss_weight`` x the mean over the pairs ``(i, j)`` of
            one class with ``o_i - o_j > min_gap`` of ``max(0, (o_i - o_j)
            - (m_i - m_j))``, ``o = scores x targets``, ``m = scores x
            preds``; 0 (in the graph) without such a pair.
        """
        cfg = self.score_rank_loss
        scores = scores.float().detach()
        oracle = scores * targets.float().detach()
        mask_scores = scores * preds.float()
        gap = oracle[:, None] - oracle[None, :]
        pairs = (labels[:, None] == labels[None, :]) & (gap > cfg['min_gap'])
        if not bool(pairs.any()):
            return preds.sum() * 0
        hinge = (gap - (mask_scores[:, None] - mask_scores[None, :])).clamp(
            min=0)
        return hinge[pairs].mean() * cfg['loss_weight']

    def _regression_loss_dict(self, mask_iou_preds: Tensor,
                              iou_targets: Tensor, pos_labels: Tensor) -> dict:
        """``loss_mask_iou`` of :meth:`loss`."""
        rows = torch.arange(pos_labels.numel(), device=pos_labels.device)
        if self.target_mode == 'present_classes':
            if iou_targets.dim() != 2:
                raise ValueError(
                    "MaskIoUHead(target_mode='present_classes') expects "
                    f'(P, K) targets, got shape {tuple(iou_targets.shape)}.')
            gt_targets = iou_targets[rows, pos_labels]
        else:
            gt_targets = iou_targets
        keep = torch.ones_like(gt_targets, dtype=torch.bool)
        if self.iou_thr is not None:
            keep = gt_targets > self.iou_thr
        if self.target_mode == 'gt_class':
            preds = mask_iou_preds[rows, pos_labels][keep]
            targets = iou_targets[keep]
        elif self.target_mode == 'all_classes':  # the others' target is 0
            full = torch.zeros_like(mask_iou_preds)
            full[rows, pos_labels] = iou_targets.to(full.dtype)
            preds = mask_iou_preds[keep].flatten()
            targets = full[keep].flatten()
        else:  # present classes: the pairs with a target
            regressed = (iou_targets >= 0) & keep[:, None]
            preds = mask_iou_preds[regressed]
            targets = iou_targets[regressed]
        if preds.numel() == 0:
            return dict(loss_mask_iou=mask_iou_preds.sum() * 0)
        return dict(loss_mask_iou=self.regression_loss(preds, targets))

    def regression_loss(self, preds: Tensor, targets: Tensor) -> Tensor:
        """``loss_iou`` of regressed pairs, balanced over target bins.

        Args:
            preds (Tensor): Predicted MaskIoU of the regressed pairs, (Q,).
            targets (Tensor): Their targets in [0, 1], (Q,).

        Returns:
            Tensor: The plain mean of ``loss_iou`` or, with
            ``balance_bins``, its bin-balanced mean (see ``__init__``).
        """
        preds, targets = preds.float(), targets.float().detach()
        if self.balance_bins is None:
            return self.loss_iou(preds, targets)
        bins = (targets * self.balance_bins).long().clamp(
            0, self.balance_bins - 1)
        counts = torch.bincount(bins, minlength=self.balance_bins)
        weight = 1.0 / counts[bins].float()
        return self.loss_iou(
            preds, targets, weight=weight, avg_factor=weight.sum())

    def detection_targets(self, det_mask_probs: Tensor,
                          det_boxes: List[Tensor], det_labels: List[Tensor],
                          batch_gt_instances: InstanceList,
                          mask_thr_binary: float = 0.5) -> Tensor:
        """MaskIoU targets of detections (any RoI, not only positives).

        For a detection with label ``c``, box ``b`` and predicted mask ``m``
        (binarised at ``mask_thr_binary``): the highest exact IoU of ``m``
        with a *whole* ground-truth instance of class ``c`` in its image
        (the best-matching one), 0 when the image has none of class ``c``
        (a wrong-class or background detection). The same exact area
        machinery as :meth:`get_targets`, for every (detection, same-class
        instance) pair at once. ``batch_gt_instances`` holds no crowd
        instances (mmdet keeps those in the ignored instances).

        Args:
            det_mask_probs (Tensor): Probabilities of each detection's own
                class mask, (D, M, M), D over the batch.
            det_boxes (list[Tensor]): Per image, the detections' boxes
                (D_i, 4), in the coordinates of the ground-truth masks.
            det_labels (list[Tensor]): Per image, labels (D_i,).
            batch_gt_instances (list[InstanceData]): Per image, with
                ``masks`` and ``labels``.
            mask_thr_binary (float): Binarisation threshold. Defaults to
                0.5.

        Returns:
            Tensor: Targets in [0, 1], shape (D,).
        """
        probs = det_mask_probs.detach().float()
        device = probs.device
        cfg = ConfigDict(mask_size=tuple(probs.shape[-2:]))
        targets, start = [], 0
        for boxes, labels, gt in zip(det_boxes, det_labels,
                                     batch_gt_instances):
            num = boxes.shape[0]
            best = probs.new_zeros(num)
            # same-class pairs that can overlap at all: the others' IoU is
            # exactly 0 (a crowded image has D x G pairs, nearly all such)
            candidates = (labels.to(device)[:, None] == gt.labels.to(
                device)[None, :]) & boxes_near_extents(
                    boxes.detach(), gt_mask_extents(gt.masks))
            rows, gt_inds = candidates.nonzero(as_tuple=True)
            if rows.numel():
                pair_boxes = boxes[rows].detach()
                grid = chunked_mask_target(pair_boxes, gt_inds, gt.masks,
                                           cfg.mask_size).to(device)
                clipped = clip_boxes_to_masks(pair_boxes, gt.masks)
                area_in, area_all = gt_areas_in_and_out(
                    gt.masks, gt_inds, clipped)
                ious = mask_iou_from_areas(probs[start + rows], grid,
                                           clipped.to(device),
                                           area_in.to(device),
                                           area_all.to(device),
                                           mask_thr_binary)
                best = best.scatter_reduce(
                    0, rows, ious.to(best.dtype), reduce='amax')
            targets.append(best)
            start += num
        return torch.cat(targets) if targets else probs.new_zeros(0)

    # ------------------------------------------------------------------
    # inference
    def predict_mask_ious(self,
                          mask_iou_preds: List[Tensor],
                          results_list: InstanceList,
                          mask_score_as_score: bool = False,
                          power: float = 1.0) -> InstanceList:
        """Attach predicted MaskIoU and mask scores to the detections.

        Args:
            mask_iou_preds (list[Tensor]): Per image, shape (N_i, K).
            results_list (list[InstanceData]): Per image, with ``scores``
                and ``labels`` (N_i,).
            mask_score_as_score (bool): Also write the mask score into
                ``scores`` (box AP then uses it too). Defaults to False.
            power (float): Exponent of the MaskIoU in the mask score.
                Defaults to 1.

        Returns:
            list[InstanceData]: The same objects, with ``mask_ious`` (the
            chosen class's prediction clamped to [0, 1]) and
            ``mask_scores`` (= scores * mask_ious**power).
        """
        for results, preds in zip(results_list, mask_iou_preds):
            labels = results.labels
            rows = torch.arange(labels.numel(), device=labels.device)
            ious = preds[rows, labels].float().clamp(0, 1) if len(
                labels) else results.scores.new_zeros(0)
            attach_mask_scores(results, ious, mask_score_as_score, power)
        return results_list
