"""The MaskIoU head of Mask Scoring R-CNN."""
from typing import List, Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmengine.structures import InstanceData
from torch import Tensor

from mmdet_msrcnn.registry import MODELS
from ..utils.mask_iou_target import (clip_boxes_to_masks, gt_areas_in_and_out,
                                     mask_iou_from_areas)

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
#: #2 every class with target 0 for the others.
TARGET_MODES = ('gt_class', 'all_classes')


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
        mask_size (int, optional): Side of the predicted mask, for the
            shape checks; ``None`` means ``2 * roi_feat_size``.
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
        target_mode (str): One of :data:`TARGET_MODES` (paper Table 5).
            Defaults to ``'gt_class'``.
        iou_thr (float, optional): Train only on RoIs whose target IoU is
            above it (paper Table 6). ``None`` uses every positive RoI.
        loss_iou (dict): Regression loss; mean over the regressed
            (RoI, class) pairs. Defaults to ``MSELoss`` with weight 1.
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
        self.num_classes = num_classes
        self.roi_feat_size = roi_feat_size
        self.mask_size = mask_size or 2 * roi_feat_size
        self.in_channels = in_channels
        self.input_mode = input_mode
        self.target_mode = target_mode
        self.iou_thr = iou_thr

        if input_mode == 'concat':
            first_in = in_channels + 1
        elif input_mode == 'concat_all_classes':
            first_in = in_channels + num_classes
        elif input_mode == 'mask_only':
            first_in = 1
        else:  # multiply, feature_only
            first_in = in_channels
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

    def forward(self, roi_feats: Tensor, mask_probs: Tensor) -> Tensor:
        """Predict per-class MaskIoU.

        Args:
            roi_feats (Tensor): RoI features, shape (N, C, S, S).
            mask_probs (Tensor): Mask probabilities (after sigmoid) of the
                target class, shape (N, M, M), or of all classes,
                shape (N, num_classes, M, M), for
                ``input_mode='concat_all_classes'``.

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
        if mask_probs.dim() == 3:
            mask_probs = mask_probs.unsqueeze(1)
        mask_probs = self._resize_mask(mask_probs.to(roi_feats.dtype))
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
        for conv in self.convs:
            x = F.relu(conv(x))
        x = x.flatten(1)
        for fc in self.fcs:
            x = F.relu(fc(x))
        return self.fc_mask_iou(x)

    # ------------------------------------------------------------------
    # training
    def get_targets(self, pos_mask_probs: Tensor, mask_targets: Tensor,
                    sampling_results: Sequence,
                    batch_gt_instances: InstanceList,
                    mask_thr_binary: float = 0.5) -> Tensor:
        """MaskIoU targets of the positive RoIs of a batch.

        The IoU of the predicted mask binarised on the probability
        (``>= mask_thr_binary``) with the whole ground-truth instance; the
        ground-truth area outside the RoI enters the union exactly (see
        :mod:`mmdet_msrcnn.models.utils.mask_iou_target`).

        Args:
            pos_mask_probs (Tensor): Probabilities of the ground-truth class
                mask, shape (P, M, M).
            mask_targets (Tensor): Mask targets of the positive RoIs,
                shape (P, M, M).
            sampling_results (list[SamplingResult]): Per image, with
                ``pos_priors`` (P_i, 4) and ``pos_assigned_gt_inds`` (P_i,).
            batch_gt_instances (list[InstanceData]): Per image, with
                ``masks`` (BitmapMasks, PolygonMasks or a bool tensor).
            mask_thr_binary (float): Binarisation threshold of the predicted
                probability. Defaults to 0.5.

        Returns:
            Tensor: Targets in [0, 1], shape (P,).
        """
        inside, whole, boxes = [], [], []
        for res, gt in zip(sampling_results, batch_gt_instances):
            box = clip_boxes_to_masks(res.pos_priors, gt.masks)
            area_in, area_all = gt_areas_in_and_out(
                gt.masks, res.pos_assigned_gt_inds, box)
            inside.append(area_in)
            whole.append(area_all)
            boxes.append(box)
        return mask_iou_from_areas(
            pos_mask_probs.detach().float(), mask_targets.float(),
            torch.cat(boxes).to(pos_mask_probs.device),
            torch.cat(inside).to(pos_mask_probs.device),
            torch.cat(whole).to(pos_mask_probs.device), mask_thr_binary)

    def loss(self, mask_iou_preds: Tensor, iou_targets: Tensor,
             pos_labels: Tensor) -> dict:
        """L2 loss of the regressed MaskIoU outputs.

        Args:
            mask_iou_preds (Tensor): All class outputs, shape (P, K).
            iou_targets (Tensor): Targets of the ground-truth class, (P,).
            pos_labels (Tensor): Ground-truth class of each RoI, (P,).

        Returns:
            dict[str, Tensor]: ``loss_mask_iou``, the mean over the regressed
            outputs; 0 (with gradients reaching every parameter) when there
            are none.
        """
        keep = torch.ones_like(iou_targets, dtype=torch.bool)
        if self.iou_thr is not None:
            keep = iou_targets > self.iou_thr
        rows = torch.arange(pos_labels.numel(), device=pos_labels.device)
        if self.target_mode == 'gt_class':
            preds = mask_iou_preds[rows, pos_labels][keep]
            targets = iou_targets[keep]
        else:  # all classes: the others' target is 0
            full = torch.zeros_like(mask_iou_preds)
            full[rows, pos_labels] = iou_targets.to(full.dtype)
            preds = mask_iou_preds[keep].flatten()
            targets = full[keep].flatten()
        if preds.numel() == 0:
            return dict(loss_mask_iou=mask_iou_preds.sum() * 0)
        loss = self.loss_iou(preds.float(), targets.float().detach())
        return dict(loss_mask_iou=loss)

    # ------------------------------------------------------------------
    # inference
    def predict_by_feat(self,
                        mask_iou_preds: List[Tensor],
                        results_list: InstanceList,
                        mask_score_as_score: bool = False) -> InstanceList:
        """Attach predicted MaskIoU and mask scores to the detections.

        Args:
            mask_iou_preds (list[Tensor]): Per image, shape (N_i, K).
            results_list (list[InstanceData]): Per image, with ``scores``
                and ``labels`` (N_i,).
            mask_score_as_score (bool): Also write the mask score into
                ``scores`` (box AP then uses it too). Defaults to False.

        Returns:
            list[InstanceData]: The same objects, with ``mask_ious`` (the
            chosen class's prediction clamped to [0, 1]) and
            ``mask_scores`` (= scores * mask_ious).
        """
        for results, preds in zip(results_list, mask_iou_preds):
            labels = results.labels
            rows = torch.arange(labels.numel(), device=labels.device)
            ious = preds[rows, labels].float().clamp(0, 1) if len(
                labels) else results.scores.new_zeros(0)
            results.mask_ious = ious.to(results.scores.dtype)
            results.mask_scores = results.scores * results.mask_ious
            if mask_score_as_score:
                results.scores = results.mask_scores
        return results_list
