"""Mask scoring of a detector's final detections, whatever the detector.

:class:`DetectionMaskScorer` scores the detections a single-stage or
query-based instance segmentor hands out (boxes, labels, full-image binary
masks): for each detection it reads an RoI feature at the box from the
host's feature levels and the mask resampled on the box's grid, and its
:class:`~mmdet_msrcnn.models.mask_heads.MaskIoUHead` predicts the MaskIoU
of every class. The host detectors
(:mod:`mmdet_msrcnn.models.detectors`) call it by name in their ``loss``,
``predict`` and tensor-mode ``_forward``.
"""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmengine.model import BaseModule
from mmengine.structures import InstanceData
from torch import Tensor, nn

from mmdet_msrcnn.registry import MODELS
from ..utils.full_mask_iou import (full_mask_ious, gt_masks_as_tensor,
                                   mask_box_grids, masks_to_boxes)
from ..utils.overlap_decay import (decay_mask_scores, overlap_decay_kernel,
                                   overlap_decay_mode)
from .mask_iou_head import image_indices

#: Values of ``box_source``: the host's boxes, or the tight box of the mask
#: (hosts whose results carry placeholder boxes, e.g. SOLOv2).
BOX_SOURCES = ('host', 'mask')


def _scale_of(meta: dict, rescaled: bool) -> Tuple[float, float]:
    """``(sx, sy)`` from a result's frame to the network-input frame."""
    if not rescaled:
        return 1.0, 1.0
    scale = meta.get('scale_factor', (1.0, 1.0))
    return float(scale[0]), float(scale[1])


@MODELS.register_module()
class DetectionMaskScorer(BaseModule):
    """Predict the MaskIoU of a detector's final masks.

    Inputs per detection, in the network-input frame:

    * the RoI feature at its box: mmdet's ``SingleRoIExtractor`` (RoIAlign,
      level chosen by box size) over the first ``len(featmap_strides)``
      levels the host's ``extract_feat`` returns; levels whose channel
      count differs from ``mask_iou_head.in_channels`` first go through a
      1x1 lateral convolution to that width;
    * its full-image mask (as a float map) resampled on the box's
      ``mask_size x mask_size`` grid with RoIAlign.

    The MaskIoU head predicts one MaskIoU per class; the detection's label
    picks its own.

    Args:
        mask_iou_head (dict): Config of the MaskIoU head
            (``type='mmdet_msrcnn.MaskIoUHead'``). Its ``in_channels`` is
            the RoI feature width, ``roi_feat_size`` the RoIAlign output
            size, ``mask_size`` the side of the mask grid, ``num_classes``
            the host's number of (thing) classes; ``loss_iou`` (with its
            ``loss_weight``) and ``balance_bins`` shape the loss.
        featmap_strides (Sequence[int]): Strides of the feature levels read,
            the first ``len(featmap_strides)`` levels of the host's
            features.
        in_channels (int | Sequence[int]): Channels of those levels (one
            for all, or one per level). Defaults to 256.
        roi_layer (dict): RoI layer of the feature extractor, without
            ``output_size`` (taken from the head). Defaults to
            ``RoIAlign`` with adaptive sampling.
        finest_scale (int): Box scale mapped to the first level (see
            mmdet's ``SingleRoIExtractor``). Defaults to 56.
        detach_feats (bool): Stop the MaskIoU loss at the host's features,
            so the detector trains exactly as without the scorer. Defaults
            to True; ``False`` lets it reach the backbone / neck.
        train_max_per_img (int, optional): Train on at most this many
            detections of each image, those the host scores highest. The
            training cost of the scorer grows with the number of
            detections (up to the host's ``max_per_img``, 100 for most);
            ``None`` (default) trains on all of them.
        mask_overlap_decay (bool | str): At test time, multiply each
            ``mask_scores`` by ``1 - max IoU`` of its mask with the masks
            of higher mask score, of its class (True / ``'per_class'``) or
            of any (``'class_agnostic'``), as the RoI heads' option of the
            same name (see
            :func:`~mmdet_msrcnn.models.utils.decay_mask_scores`).
            ``scores`` and ``mask_ious`` are kept. Not exported. Defaults
            to False.
        mask_overlap_decay_kernel (str, optional): ``'linear'`` (``None``)
            or ``'second_chance'``, as the RoI heads' option.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 mask_iou_head: dict,
                 featmap_strides: Sequence[int],
                 in_channels: Union[int, Sequence[int]] = 256,
                 roi_layer: Optional[dict] = None,
                 finest_scale: int = 56,
                 detach_feats: bool = True,
                 train_max_per_img: Optional[int] = None,
                 mask_overlap_decay: Union[bool, str] = False,
                 mask_overlap_decay_kernel: Optional[str] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        # function-level import: roi_heads imports this package
        from ..roi_heads.mask_scoring_mixin import build_mask_iou_head
        self.mask_iou_head = build_mask_iou_head(mask_iou_head)
        if getattr(self.mask_iou_head, 'with_image_input', False):
            raise ValueError(
                'DetectionMaskScorer: mask_iou_head.image_input is built for '
                "the two-stage hosts' RoI heads (mmdet_msrcnn."
                'ImageInputMaskRCNN and siblings); the detection scorer of '
                'single-stage and query hosts does not pass image crops. '
                'Drop image_input.')
        strides = [int(s) for s in featmap_strides]
        if not strides:
            raise ValueError('DetectionMaskScorer: featmap_strides is empty.')
        channels = [int(in_channels)] * len(strides) if isinstance(
            in_channels, int) else [int(c) for c in in_channels]
        if len(channels) != len(strides):
            raise ValueError(
                f'DetectionMaskScorer: in_channels={list(channels)} has '
                f'{len(channels)} entries for {len(strides)} '
                f'featmap_strides={strides}; give one per level or one int.')
        self.in_channels = channels
        width = self.mask_iou_head.in_channels
        if all(c == width for c in channels):
            self.lateral_convs = None
        else:  # bring every level to the head's width
            self.lateral_convs = nn.ModuleList(
                nn.Conv2d(c, width, 1) for c in channels)
        layer = dict(type='RoIAlign', sampling_ratio=0, aligned=True)
        layer.update(roi_layer or {})
        layer['output_size'] = self.mask_iou_head.roi_feat_size
        self.roi_extractor = MODELS.build(
            dict(
                type='mmdet.SingleRoIExtractor',
                roi_layer=layer,
                out_channels=width,
                featmap_strides=strides,
                finest_scale=finest_scale))
        self.detach_feats = detach_feats
        if train_max_per_img is not None and (not isinstance(
                train_max_per_img, int) or train_max_per_img < 1):
            raise ValueError(
                f'DetectionMaskScorer: train_max_per_img='
                f'{train_max_per_img!r} must be None or a positive int.')
        self.train_max_per_img = train_max_per_img
        self.mask_overlap_decay = overlap_decay_mode(mask_overlap_decay)
        self.mask_overlap_decay_kernel = overlap_decay_kernel(
            mask_overlap_decay_kernel, self.mask_overlap_decay)

    @property
    def num_classes(self) -> int:
        """Outputs of the MaskIoU head, one per class."""
        return self.mask_iou_head.num_classes

    @property
    def num_levels(self) -> int:
        """Feature levels read."""
        return len(self.in_channels)

    # ------------------------------------------------------------------
    # forward
    def _levels(self, feats: Sequence[Tensor]) -> List[Tensor]:
        """The levels read, checked, detached and brought to one width."""
        if len(feats) < self.num_levels:
            raise ValueError(
                f'DetectionMaskScorer reads {self.num_levels} feature levels '
                f'(featmap_strides) but the host gives {len(feats)}.')
        levels = list(feats[:self.num_levels])
        found = [f.shape[1] for f in levels]
        if found != self.in_channels:
            raise ValueError(
                f'DetectionMaskScorer: the host\'s feature levels have '
                f'{found} channels but mask_scorer.in_channels='
                f'{self.in_channels}; set in_channels to them.')
        if self.detach_feats:
            levels = [f.detach() for f in levels]
        if self.lateral_convs is not None:
            levels = [conv(f) for conv, f in zip(self.lateral_convs, levels)]
        return levels

    def forward(self, feats: Sequence[Tensor], rois: Tensor,
                mask_grids: Tensor) -> Tensor:
        """MaskIoU of every class for some detections.

        Args:
            feats (Sequence[Tensor]): The host's feature levels, each
                (B, C_l, H_l, W_l); the first ``num_levels`` are read.
            rois (Tensor): Boxes in the network-input frame with their image
                index first, (N, 5).
            mask_grids (Tensor): Each detection's mask on its box's grid,
                (N, M, M), in [0, 1].

        Returns:
            Tensor: MaskIoU predictions (unclamped), (N, num_classes).
        """
        levels = self._levels(feats)
        roi_feats = self.roi_extractor(levels, rois)
        return self.mask_iou_head(roi_feats, mask_grids, rois)

    def detection_inputs(
            self,
            results_list: Sequence[InstanceData],
            batch_img_metas: Sequence[dict],
            rescaled: bool,
            box_source: str = 'host') -> Tuple[Tensor, Tensor, List[int]]:
        """RoIs and mask grids of a batch of final detections.

        Args:
            results_list (list[InstanceData]): Per image, the host's
                results with ``masks`` (N_i, H, W) and ``bboxes`` (N_i, 4),
                both in the same frame.
            batch_img_metas (list[dict]): Per image, with ``scale_factor``.
            rescaled (bool): The results are in the original-image frame
                (``rescale=True``); their boxes are mapped to the
                network-input frame by ``scale_factor`` for the features.
                The mask grid is read in the results' own frame.
            box_source (str): One of :data:`BOX_SOURCES`: ``'host'`` the
                results' ``bboxes``, ``'mask'`` the tight box of each mask.

        Returns:
            tuple[Tensor, Tensor, list[int]]: ``rois`` (N, 5) in the
            network-input frame, ``mask_grids`` (N, M, M) and the number of
            detections of each image.
        """
        if box_source not in BOX_SOURCES:
            raise ValueError(f'box_source={box_source!r}; choose one of '
                             f'{BOX_SOURCES}.')
        size = self.mask_iou_head.mask_size
        rois, grids, nums = [], [], []
        for i, (res, meta) in enumerate(zip(results_list, batch_img_metas)):
            masks = res.masks
            if box_source == 'mask':
                boxes = masks_to_boxes(masks)
            else:
                boxes = res.bboxes
                boxes = getattr(boxes, 'tensor', boxes).float()
            grids.append(mask_box_grids(masks, boxes, size))
            sx, sy = _scale_of(meta, rescaled)
            scale = boxes.new_tensor([sx, sy, sx, sy])
            index = boxes.new_full((boxes.shape[0], 1), i)
            rois.append(torch.cat([index, boxes * scale], 1))
            nums.append(boxes.shape[0])
        return torch.cat(rois), torch.cat(grids), nums

    def score(self,
              feats: Sequence[Tensor],
              results_list: Sequence[InstanceData],
              batch_img_metas: Sequence[dict],
              rescaled: bool = False,
              box_source: str = 'host') -> Tensor:
        """MaskIoU of every class for a batch of final detections.

        Args:
            feats (Sequence[Tensor]): The host's feature levels.
            results_list (list[InstanceData]): As in
                :meth:`detection_inputs`.
            batch_img_metas (list[dict]): Image metas.
            rescaled (bool): See :meth:`detection_inputs`.
            box_source (str): See :meth:`detection_inputs`.

        Returns:
            Tensor: (N, num_classes), N over the batch in image order; the
            tensor-mode output.
        """
        rois, grids, _ = self.detection_inputs(results_list, batch_img_metas,
                                               rescaled, box_source)
        return self(feats, rois.to(feats[0].device), grids.to(feats[0]))

    # ------------------------------------------------------------------
    # inference
    def predict(self,
                feats: Sequence[Tensor],
                results_list: List[InstanceData],
                batch_img_metas: Sequence[dict],
                rescaled: bool = False,
                box_source: str = 'host') -> List[InstanceData]:
        """Attach ``mask_ious`` and ``mask_scores`` to final detections.

        ``scores`` and everything else the host wrote stay as they are.

        Args:
            feats (Sequence[Tensor]): The host's feature levels.
            results_list (list[InstanceData]): Per image, with ``scores``,
                ``labels``, ``masks`` and ``bboxes``.
            batch_img_metas (list[dict]): Image metas.
            rescaled (bool): See :meth:`detection_inputs`.
            box_source (str): See :meth:`detection_inputs`.

        Returns:
            list[InstanceData]: ``results_list``, each with ``mask_ious``
            (the label's prediction clamped to [0, 1]) and ``mask_scores``
            (``scores * mask_ious``, decayed with ``mask_overlap_decay``).
        """
        preds = self.score(feats, results_list, batch_img_metas, rescaled,
                           box_source)
        nums = [len(results) for results in results_list]
        results_list = self.mask_iou_head.predict_mask_ious(
            list(preds.split(nums)), results_list)
        if self.mask_overlap_decay:
            decay_mask_scores(
                results_list,
                self.mask_overlap_decay,
                kernel=self.mask_overlap_decay_kernel)
        return results_list

    # ------------------------------------------------------------------
    # training
    def _top_detections(self, dets: InstanceData) -> InstanceData:
        """The ``train_max_per_img`` highest-scoring detections."""
        cap = self.train_max_per_img
        if cap is None or len(dets) <= cap:
            return dets
        return dets[dets.scores.topk(cap).indices]

    def loss(self,
             feats: Sequence[Tensor],
             dets_list: List[InstanceData],
             batch_data_samples: Sequence,
             box_source: str = 'host') -> Dict[str, Tensor]:
        """MaskIoU loss on the host's own detections of a training batch.

        Args:
            feats (Sequence[Tensor]): The host's feature levels (detached
                here unless ``detach_feats=False``).
            dets_list (list[InstanceData]): Per image, the host's final
                detections of this batch in the network-input frame
                (``rescale=False``), computed without gradient: ``labels``,
                ``masks`` (N_i, H, W) covering ``img_shape`` and, for
                ``box_source='host'``, ``bboxes``.
            batch_data_samples (list[DetDataSample]): With ``gt_instances``
                (``masks``, ``labels``) and the image metas.
            box_source (str): See :meth:`detection_inputs`.

        Returns:
            dict[str, Tensor]: ``loss_mask_iou``, the head's
            ``regression_loss`` (its ``loss_iou`` weight and
            ``balance_bins``) of each detection's own class output against
            :func:`~mmdet_msrcnn.models.utils.full_mask_ious`; a zero that
            keeps every scorer parameter in the graph when the batch has
            no detection. With the head's ``rank_loss`` also
            ``loss_mask_iou_rank`` (pairs within one image and class), with
            its ``score_rank_loss`` ``loss_mask_iou_score_rank`` (the mask
            scores of one class's detections, ``dets_list``'s ``scores``).
        """
        head = self.mask_iou_head
        dets_list = [self._top_detections(det) for det in dets_list]
        metas = [s.metainfo for s in batch_data_samples]
        rois, grids, _ = self.detection_inputs(dets_list, metas, False,
                                               box_source)
        keys = ['loss_mask_iou']
        if head.rank_loss is not None:
            keys.append('loss_mask_iou_rank')
        if head.score_rank_loss is not None:
            keys.append('loss_mask_iou_score_rank')
        if rois.shape[0] == 0:
            zero = sum(p.sum() for p in self.parameters()) * 0
            return {key: zero for key in keys}
        device = feats[0].device
        targets = torch.cat([
            full_mask_ious(
                det.masks, det.labels,
                gt_masks_as_tensor(sample.gt_instances.masks,
                                   det.masks.device),
                sample.gt_instances.labels, sample.metainfo['img_shape'][:2])
            for det, sample in zip(dets_list, batch_data_samples)
        ]).to(device)
        labels = torch.cat([det.labels for det in dets_list]).long().to(device)
        preds = self(feats, rois.to(device), grids.to(feats[0]))
        rows = torch.arange(labels.numel(), device=device)
        losses = dict(
            loss_mask_iou=head.regression_loss(preds[rows, labels], targets))
        if head.rank_loss is not None:  # pairs within one image and class
            losses['loss_mask_iou_rank'] = head.image_class_ranking_loss(
                preds[rows, labels], targets, labels,
                image_indices([len(det) for det in dets_list], device))
        if head.score_rank_loss is not None:  # pairs within one class
            losses['loss_mask_iou_score_rank'] = head.score_ranking_loss(
                preds[rows, labels], targets,
                torch.cat([det.scores for det in dets_list]).to(device),
                labels)
        return losses
