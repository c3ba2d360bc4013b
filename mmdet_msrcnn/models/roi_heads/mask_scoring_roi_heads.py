"""Mask scoring RoI heads: mmdet's RoI heads with explicit scoring overrides.

Each class overrides its host's named mask methods (``mask_loss``,
``predict_mask``, the tensor-mode ``forward`` and, where the host does not
return the mask feature, ``_mask_forward``), keeps the host's own mask path
line for line, and calls the shared :class:`MaskScoringMixin` pieces by
name: :meth:`~MaskScoringMixin.mask_iou_loss` in training,
:meth:`~MaskScoringMixin.predict_mask_iou` before the masks are pasted.
The host's boxes, masks and classification scores stay exactly the host's.
"""
from typing import List, Optional, Tuple

import torch
import torch.nn.functional as F
from mmdet.models.roi_heads import (CascadeRoIHead, HybridTaskCascadeRoIHead,
                                    PointRendRoIHead, SparseRoIHead,
                                    StandardRoIHead)
from mmdet.models.test_time_augs import merge_aug_masks
from mmdet.models.utils import empty_instances
from mmdet.structures.bbox import bbox2roi
from mmengine.structures import InstanceData
from torch import Tensor

from mmdet_msrcnn.registry import MODELS
from .mask_scoring_mixin import MaskScoringMixin


def _empty_mask_results(roi_head, batch_img_metas, device, results_list):
    """The host's empty-batch results, with zero mask scores."""
    results_list = empty_instances(
        batch_img_metas,
        device,
        task_type='mask',
        instance_results=results_list,
        mask_thr_binary=roi_head.test_cfg.mask_thr_binary)
    return roi_head.empty_mask_scores(results_list)


def _merge_stage_masks(aug_masks: List[List[Tensor]],
                       batch_img_metas: List[dict]) -> List[Tensor]:
    """Per image, the mean of the stages' mask probabilities (mmdet's)."""
    return [
        merge_aug_masks([stage[i] for stage in aug_masks], img_meta)
        for i, img_meta in enumerate(batch_img_metas)
    ]


def _cat(tensors: List[Tensor]) -> Tensor:
    """Concatenate per-image tensors (no copy for a single image)."""
    return tensors[0] if len(tensors) == 1 else torch.cat(list(tensors))


@MODELS.register_module()
class MaskScoringRoIHead(MaskScoringMixin, StandardRoIHead):
    """Mask Scoring R-CNN RoI head (Mask R-CNN + MaskIoU head).

    Args:
        mask_iou_head (dict): Config of
            :class:`~mmdet_msrcnn.models.mask_heads.MaskIoUHead`.
        **kwargs: :class:`MaskScoringMixin` options and
            ``StandardRoIHead`` arguments.
    """

    supports_detection_training = True

    def loss(self, x: Tuple[Tensor], rpn_results_list: List,
             batch_data_samples: List) -> dict:
        """The host's losses, plus ``loss_mask_iou_dets`` / ``_jit`` if set.

        The detections are made first, from a copy of the proposals (the
        host's ``loss`` turns their ``bboxes`` into sampling priors); the
        box path is deterministic, so the RoI sampling is unchanged. The
        jittered boxes are drawn after the host's losses, so their random
        draws do not move its sampling either.
        """
        extra = {}
        if self.mask_iou_detections is not None:
            proposals = [
                InstanceData(bboxes=res.bboxes.detach())
                for res in rpn_results_list
            ]
            extra = self.detection_mask_iou_loss(x, proposals,
                                                 batch_data_samples)
        losses = super().loss(x, rpn_results_list, batch_data_samples)
        losses.update(extra)
        if self.mask_iou_jittered_gts is not None:
            losses.update(
                self.jittered_gt_mask_iou_loss(x, batch_data_samples))
        return losses

    def forward(self, x: Tuple[Tensor], rpn_results_list: List,
                batch_data_samples: Optional[List] = None) -> tuple:
        """Tensor mode: the host's outputs, then the MaskIoU head's.

        Returns:
            tuple: ``cls_score`` (R, K + 1), ``bbox_pred`` (R, 4K),
            ``mask_preds`` (N, K, M, M) and ``mask_iou_preds`` (N, K) of the
            first N = min(R, 100) proposals, as mmdet's mask path.
        """
        results = ()
        rois = bbox2roi([res.bboxes for res in rpn_results_list])
        if self.with_bbox:
            bbox_results = self._bbox_forward(x, rois)
            results = results + (bbox_results['cls_score'],
                                 bbox_results['bbox_pred'])
        if self.with_mask:
            mask_rois = rois[:100]
            mask_results = self._mask_forward(x, mask_rois)
            results = results + (mask_results['mask_preds'], )
            if self.with_bbox and self.with_mask_iou:
                results = results + (self.mask_iou_forward_tensor(
                    x, mask_rois, mask_results['mask_feats'],
                    mask_results['mask_preds'],
                    bbox_results['cls_score'][:100]), )
        return results

    def mask_loss(self, x: Tuple[Tensor], sampling_results: List,
                  bbox_feats: Tensor, batch_gt_instances: List) -> dict:
        """The host's mask loss plus ``loss_mask_iou``.

        Returns:
            dict: ``mask_preds``, ``mask_feats``, ``mask_targets`` and
            ``loss_mask`` (``loss_mask``, ``loss_mask_iou``).
        """
        if not self.share_roi_extractor:
            pos_rois = bbox2roi([res.pos_priors for res in sampling_results])
            mask_results = self._mask_forward(x, pos_rois)
        else:
            pos_inds = torch.cat([
                torch.cat([
                    bbox_feats.new_ones(
                        res.pos_priors.shape[0], dtype=torch.uint8),
                    bbox_feats.new_zeros(
                        res.neg_priors.shape[0], dtype=torch.uint8)
                ]) for res in sampling_results
            ])
            mask_results = self._mask_forward(
                x, pos_inds=pos_inds, bbox_feats=bbox_feats)
        mask_loss_and_target = self.mask_head.loss_and_target(
            mask_preds=mask_results['mask_preds'],
            sampling_results=sampling_results,
            batch_gt_instances=batch_gt_instances,
            rcnn_train_cfg=self.train_cfg)
        mask_results.update(mask_loss_and_target)
        mask_results['loss_mask'].update(
            self.mask_iou_loss(0, x, mask_results, sampling_results,
                               batch_gt_instances, self.train_cfg))
        return mask_results

    def predict_mask(self,
                     x: Tuple[Tensor],
                     batch_img_metas: List[dict],
                     results_list: List,
                     rescale: bool = False) -> List:
        """The host's masks, scored before they are pasted.

        Adds ``mask_ious`` and ``mask_scores`` to every result; ``scores``
        stays the classification score unless ``mask_score_as_score``.
        """
        mask_rois = bbox2roi([res.bboxes for res in results_list])
        if mask_rois.shape[0] == 0:
            return _empty_mask_results(self, batch_img_metas,
                                       mask_rois.device, results_list)
        mask_results = self._mask_forward(x, mask_rois)
        mask_preds = mask_results['mask_preds']
        self.predict_mask_iou(x, mask_rois, mask_results['mask_feats'],
                              mask_preds, results_list, is_prob=False)
        return self.mask_head.predict_by_feat(
            mask_preds=mask_preds.split([len(res) for res in results_list]),
            results_list=results_list,
            batch_img_metas=batch_img_metas,
            rcnn_test_cfg=self.test_cfg,
            rescale=rescale)


class _CascadeScoringMixin(MaskScoringMixin):
    """What Cascade and HTC share: the stage loss and the merged masks."""

    def _scored_stage_loss(self, stage: int, x: Tuple[Tensor],
                           mask_results: dict, sampling_results: List,
                           batch_gt_instances: List) -> None:
        """Add the stage's ``loss_mask_iou`` to ``mask_results``.

        The cascade multiplies every loss in ``loss_mask`` by
        ``stage_loss_weights[stage]`` (never 0 for a scored stage, see
        :meth:`_check_stage_loss_weights`); the MaskIoU loss is divided by
        it first, so it keeps its own weight.
        """
        if stage not in self.scored_stages:
            return
        loss = self.mask_iou_loss(stage, x, mask_results, sampling_results,
                                  batch_gt_instances, self.train_cfg[stage])
        weight = self.stage_loss_weights[stage]
        mask_results['loss_mask'].update(
            {name: value / weight
             for name, value in loss.items()})

    def _score_merged_masks(self, x, mask_rois, mask_feats, merged_masks,
                            batch_img_metas, results_list, rescale):
        """Score the merged masks, then paste them with the last head."""
        self.predict_mask_iou(x, mask_rois, mask_feats, _cat(merged_masks),
                              results_list, is_prob=True)
        return self.mask_head[-1].predict_by_feat(
            mask_preds=merged_masks,
            results_list=results_list,
            batch_img_metas=batch_img_metas,
            rcnn_test_cfg=self.test_cfg,
            rescale=rescale,
            activate_map=True)


@MODELS.register_module()
class CascadeMaskScoringRoIHead(_CascadeScoringMixin, CascadeRoIHead):
    """Cascade Mask R-CNN RoI head with mask scoring.

    The MaskIoU head trains at the stages in ``mask_iou_stages`` (last by
    default; one shared head or one per stage), logged as
    ``s{i}.loss_mask_iou`` with the MaskIoU head's own loss weight, and at
    test time scores the final mask, the mean of all stages' mask
    probabilities, on the last stage's mask feature.
    """

    def _mask_forward(self, stage: int, x: Tuple[Tensor],
                      rois: Tensor) -> dict:
        """The host's mask forward, also returning ``mask_feats``."""
        mask_roi_extractor = self.mask_roi_extractor[stage]
        mask_feats = mask_roi_extractor(x[:mask_roi_extractor.num_inputs],
                                        rois)
        return dict(
            mask_preds=self.mask_head[stage](mask_feats),
            mask_feats=mask_feats)

    def mask_loss(self, stage: int, x: Tuple[Tensor], sampling_results: List,
                  batch_gt_instances: List) -> dict:
        """The host's stage mask loss plus the stage's ``loss_mask_iou``."""
        mask_results = super().mask_loss(stage, x, sampling_results,
                                         batch_gt_instances)
        self._scored_stage_loss(stage, x, mask_results, sampling_results,
                                batch_gt_instances)
        return mask_results

    def _stage_masks(self, x, rois, num_rois_per_img):
        """Every stage's mask probabilities and the last stage's feature."""
        aug_masks = []
        for stage in range(self.num_stages):
            mask_results = self._mask_forward(stage, x, rois)
            aug_masks.append([
                m.sigmoid().detach()
                for m in mask_results['mask_preds'].split(num_rois_per_img)
            ])
        return aug_masks, mask_results['mask_feats']

    def predict_mask(self,
                     x: Tuple[Tensor],
                     batch_img_metas: List[dict],
                     results_list: List,
                     rescale: bool = False) -> List:
        """The host's merged masks, scored before they are pasted."""
        mask_rois = bbox2roi([res.bboxes for res in results_list])
        if mask_rois.shape[0] == 0:
            return _empty_mask_results(self, batch_img_metas,
                                       mask_rois.device, results_list)
        aug_masks, mask_feats = self._stage_masks(
            x, mask_rois, [len(res) for res in results_list])
        return self._score_merged_masks(
            x, mask_rois, mask_feats,
            _merge_stage_masks(aug_masks, batch_img_metas), batch_img_metas,
            results_list, rescale)

    def forward(self, x: Tuple[Tensor], rpn_results_list: List,
                batch_data_samples: List) -> tuple:
        """Tensor mode: the host's outputs, then the MaskIoU head's.

        Returns:
            tuple: the host's ``cls_scores``, ``bbox_preds``, merged masks
            per image, then the MaskIoU predictions (R, K) over the batch.
        """
        results = ()
        batch_img_metas = [s.metainfo for s in batch_data_samples]
        proposals = [res.bboxes for res in rpn_results_list]
        num_proposals_per_img = tuple(len(p) for p in proposals)
        rois = bbox2roi(proposals)
        if self.with_bbox:
            rois, cls_scores, bbox_preds = self._refine_roi(
                x, rois, batch_img_metas, num_proposals_per_img)
            results = results + (cls_scores, bbox_preds)
        if self.with_mask:
            rois = torch.cat(rois)
            aug_masks, mask_feats = self._stage_masks(
                x, rois, num_proposals_per_img)
            merged_masks = _merge_stage_masks(aug_masks, batch_img_metas)
            results = results + (merged_masks, )
            if self.with_bbox and self.with_mask_iou:
                results = results + (self.mask_iou_forward_tensor(
                    x, rois, mask_feats, _cat(merged_masks),
                    _cat(cls_scores), is_prob=True), )
        return results


@MODELS.register_module()
class HTCMaskScoringRoIHead(_CascadeScoringMixin, HybridTaskCascadeRoIHead):
    """Hybrid Task Cascade RoI head with mask scoring.

    As :class:`CascadeMaskScoringRoIHead`; the MaskIoU head sees the mask
    feature after the semantic fusion, when HTC has a semantic branch, and
    scores the mask HTC's ``predict_mask`` pastes.
    """

    def _mask_forward(self,
                      stage: int,
                      x: Tuple[Tensor],
                      rois: Tensor,
                      semantic_feat: Optional[Tensor] = None,
                      training: bool = True) -> dict:
        """The host's mask forward, also returning ``mask_feats``.

        As mmdet 3.3's: in training the stage's mask (with the mask
        information flow through the earlier stages' heads); at test time
        the list of masks HTC merges, which holds the last stage's mask.
        """
        mask_roi_extractor = self.mask_roi_extractor[stage]
        mask_feats = mask_roi_extractor(x[:mask_roi_extractor.num_inputs],
                                        rois)
        if self.with_semantic and 'mask' in self.semantic_fusion:
            semantic = self.semantic_roi_extractor([semantic_feat], rois)
            if semantic.shape[-2:] != mask_feats.shape[-2:]:
                semantic = F.adaptive_avg_pool2d(semantic,
                                                 mask_feats.shape[-2:])
            mask_feats = mask_feats + semantic
        last_feat = None
        if training:
            if self.mask_info_flow:
                for i in range(stage):
                    last_feat = self.mask_head[i](
                        mask_feats, last_feat, return_logits=False)
                mask_preds = self.mask_head[stage](
                    mask_feats, last_feat, return_feat=False)
            else:
                mask_preds = self.mask_head[stage](
                    mask_feats, return_feat=False)
            return dict(mask_preds=mask_preds, mask_feats=mask_feats)
        for head in self.mask_head:
            if self.mask_info_flow:
                mask_preds, last_feat = head(mask_feats, last_feat)
            else:
                mask_preds = head(mask_feats)
        return dict(mask_preds=[mask_preds], mask_feats=mask_feats)

    def mask_loss(self,
                  stage: int,
                  x: Tuple[Tensor],
                  sampling_results: List,
                  batch_gt_instances: List,
                  semantic_feat: Optional[Tensor] = None) -> dict:
        """The host's stage mask loss plus the stage's ``loss_mask_iou``."""
        mask_results = super().mask_loss(stage, x, sampling_results,
                                         batch_gt_instances, semantic_feat)
        self._scored_stage_loss(stage, x, mask_results, sampling_results,
                                batch_gt_instances)
        return mask_results

    def _test_masks(self, x, rois, semantic_feat, num_rois_per_img,
                    batch_img_metas):
        """The merged test-time masks and the mask feature."""
        mask_results = self._mask_forward(
            stage=-1,
            x=x,
            rois=rois,
            semantic_feat=semantic_feat,
            training=False)
        aug_masks = [[
            mask.sigmoid().detach()
            for mask in mask_preds.split(num_rois_per_img, 0)
        ] for mask_preds in mask_results['mask_preds']]
        return (_merge_stage_masks(aug_masks, batch_img_metas),
                mask_results['mask_feats'])

    def predict_mask(self,
                     x: Tuple[Tensor],
                     semantic_heat: Tensor,
                     batch_img_metas: List[dict],
                     results_list: List,
                     rescale: bool = False) -> List:
        """The host's merged masks, scored before they are pasted.

        ``semantic_heat`` is mmdet's own (misspelt) argument name.
        """
        mask_rois = bbox2roi([res.bboxes for res in results_list])
        if mask_rois.shape[0] == 0:
            return _empty_mask_results(self, batch_img_metas,
                                       mask_rois.device, results_list)
        merged_masks, mask_feats = self._test_masks(
            x, mask_rois, semantic_heat, [len(res) for res in results_list],
            batch_img_metas)
        return self._score_merged_masks(x, mask_rois, mask_feats,
                                        merged_masks, batch_img_metas,
                                        results_list, rescale)

    def forward(self, x: Tuple[Tensor], rpn_results_list: List,
                batch_data_samples: List) -> tuple:
        """Tensor mode: the host's outputs, then the MaskIoU head's."""
        results = ()
        batch_img_metas = [s.metainfo for s in batch_data_samples]
        semantic_feat = self.semantic_head(x)[1] \
            if self.with_semantic else None
        proposals = [res.bboxes for res in rpn_results_list]
        num_proposals_per_img = tuple(len(p) for p in proposals)
        rois = bbox2roi(proposals)
        if self.with_bbox:
            rois, cls_scores, bbox_preds = self._refine_roi(
                x=x,
                rois=rois,
                semantic_feat=semantic_feat,
                batch_img_metas=batch_img_metas,
                num_proposals_per_img=num_proposals_per_img)
            results = results + (cls_scores, bbox_preds)
        if self.with_mask:
            rois = torch.cat(rois)
            merged_masks, mask_feats = self._test_masks(
                x, rois, semantic_feat, num_proposals_per_img,
                batch_img_metas)
            results = results + (merged_masks, )
            if self.with_bbox and self.with_mask_iou:
                results = results + (self.mask_iou_forward_tensor(
                    x, rois, mask_feats, _cat(merged_masks),
                    _cat(cls_scores), is_prob=True), )
        return results


@MODELS.register_module()
class PointRendMaskScoringRoIHead(MaskScoringRoIHead, PointRendRoIHead):
    """PointRend RoI head with mask scoring.

    Training regresses the IoU of the coarse mask (the coarse head's
    ``mask_size``, 7x7 in mmdet's configs, upsampled to the RoI feature
    size at the head's input), beside PointRend's point loss. At test time
    the head scores the point-refined mask (the coarse side times
    ``scale_factor**subdivision_steps`` pixels a side: 7 * 2**5 = 224 with
    mmdet's configs), adaptively max-pooled to the RoI feature size.
    Tensor mode is :class:`MaskScoringRoIHead`'s (mmdet's PointRend has no
    refinement there either).
    """

    def mask_loss(self, x: Tuple[Tensor], sampling_results: List,
                  bbox_feats: Tensor, batch_gt_instances: List) -> dict:
        """Mask loss and ``loss_mask_iou``, then PointRend's point loss."""
        mask_results = super().mask_loss(x, sampling_results, bbox_feats,
                                         batch_gt_instances)
        point_results = self._mask_point_loss(
            x=x,
            sampling_results=sampling_results,
            mask_preds=mask_results['mask_preds'],
            batch_gt_instances=batch_gt_instances)
        mask_results['loss_mask'].update(
            loss_point=point_results['loss_point'])
        return mask_results

    def predict_mask(self,
                     x: Tuple[Tensor],
                     batch_img_metas: List[dict],
                     results_list: List,
                     rescale: bool = False) -> List:
        """The host's point-refined masks, scored before they are pasted."""
        mask_rois = bbox2roi([res.bboxes for res in results_list])
        if mask_rois.shape[0] == 0:
            return _empty_mask_results(self, batch_img_metas,
                                       mask_rois.device, results_list)
        mask_results = self._mask_forward(x, mask_rois)
        num_rois_per_img = [len(res) for res in results_list]
        mask_preds = mask_results['mask_preds'].split(num_rois_per_img)
        refined = []
        for i, (rois_i, res) in enumerate(
                zip(mask_rois.split(num_rois_per_img), results_list)):
            rois_i = rois_i.clone()
            rois_i[:, 0] = 0
            refined.append(
                self._mask_point_forward_test([xx[[i]] for xx in x], rois_i,
                                              res.labels, mask_preds[i]))
        self.predict_mask_iou(x, mask_rois, mask_results['mask_feats'],
                              _cat(refined), results_list, is_prob=False)
        return self.mask_head.predict_by_feat(
            mask_preds=refined,
            results_list=results_list,
            batch_img_metas=batch_img_metas,
            rcnn_test_cfg=self.test_cfg,
            rescale=rescale)


@MODELS.register_module()
class QueryInstMaskScoringRoIHead(_CascadeScoringMixin, SparseRoIHead):
    """QueryInst's ``SparseRoIHead`` (dynamic mask heads) with mask scoring.

    Training: the scored stages' (``mask_iou_stages``, last by default)
    positive queries, with their dynamic mask head's masks and targets.
    Test time: QueryInst predicts a mask for every query of the last stage
    and keeps the top ``max_per_img`` (query, class) pairs; each detection
    is scored on the RoI feature of *its own* query (the detection's box is
    that query's box), for any ``max_per_img`` and ``num_proposals``.
    Tensor mode stays mmdet's (it runs QueryInst's training path).
    """

    def _mask_forward(self, stage: int, x: Tuple[Tensor], rois: Tensor,
                      attn_feats: Tensor) -> dict:
        """The host's mask forward, also returning ``mask_feats``."""
        mask_roi_extractor = self.mask_roi_extractor[stage]
        mask_feats = mask_roi_extractor(x[:mask_roi_extractor.num_inputs],
                                        rois)
        return dict(
            mask_preds=self.mask_head[stage](mask_feats, attn_feats),
            mask_feats=mask_feats)

    def mask_loss(self, stage: int, x: Tuple[Tensor], bbox_results: dict,
                  batch_gt_instances: List, rcnn_train_cfg) -> dict:
        """The host's stage mask loss plus the stage's ``loss_mask_iou``."""
        mask_results = super().mask_loss(stage, x, bbox_results,
                                         batch_gt_instances, rcnn_train_cfg)
        self._scored_stage_loss(stage, x, mask_results,
                                bbox_results['sampling_results'],
                                batch_gt_instances)
        return mask_results

    def predict_bbox(self,
                     x: Tuple[Tensor],
                     batch_img_metas: List[dict],
                     rpn_results_list: List,
                     rcnn_test_cfg,
                     rescale: bool = False) -> List:
        """The host's detections, with each image's queries kept apart.

        mmdet 3.3 stores the last stage's per-query boxes and attention
        features as fields of the detections, which fails unless
        ``max_per_img == num_proposals``; here they travel in the results'
        metainfo (``query_boxes``, ``query_attn_feats``), so any
        ``max_per_img`` works. Boxes, scores and labels are the host's.
        """
        proposal_list = [res.bboxes for res in rpn_results_list]
        object_feats = torch.cat(
            [res.pop('features')[None, ...] for res in rpn_results_list])
        if all(proposal.shape[0] == 0 for proposal in proposal_list):
            return empty_instances(
                batch_img_metas, x[0].device, task_type='bbox')
        for stage in range(self.num_stages):
            bbox_results = self._bbox_forward(stage, x,
                                              bbox2roi(proposal_list),
                                              object_feats, batch_img_metas)
            object_feats = bbox_results['object_feats']
            cls_score = bbox_results['cls_score']
            proposal_list = bbox_results['detached_proposals']
        num_classes = self.bbox_head[-1].num_classes
        if self.bbox_head[-1].loss_cls.use_sigmoid:
            cls_score = cls_score.sigmoid()
        else:
            cls_score = cls_score.softmax(-1)[..., :-1]
        results_list = []
        for img_id, img_meta in enumerate(batch_img_metas):
            scores, topk_inds = cls_score[img_id].flatten(0, 1).topk(
                self.test_cfg.max_per_img, sorted=False)
            bboxes = proposal_list[img_id][topk_inds // num_classes]
            if rescale and bboxes.size(0) > 0:
                scale_factor = bboxes.new_tensor(
                    img_meta['scale_factor']).repeat((1, 2))
                bboxes = (bboxes.view(bboxes.size(0), -1, 4) /
                          scale_factor).view(bboxes.size()[0], -1)
            results = InstanceData(
                bboxes=bboxes, scores=scores, labels=topk_inds % num_classes)
            results.topk_inds = topk_inds
            results.set_metainfo(
                dict(
                    query_boxes=bbox_results['detached_proposals'][img_id],
                    query_attn_feats=bbox_results['attn_feats'][img_id].detach()))
            results_list.append(results)
        return results_list

    def predict_mask(self,
                     x: Tuple[Tensor],
                     batch_img_metas: List[dict],
                     results_list: List,
                     rescale: bool = False) -> List:
        """The host's top-k masks, scored on their queries' features."""
        proposal_list, attn_feats, topk_inds_list = [], [], []
        for res in results_list:
            proposal_list.append(res.query_boxes)
            attn_feats.append(res.query_attn_feats[None])
            topk_inds_list.append(res.pop('topk_inds'))
            del res.query_boxes, res.query_attn_feats
        attn_feats = torch.cat(attn_feats)
        rois = bbox2roi(proposal_list)
        if rois.shape[0] == 0:
            return _empty_mask_results(self, batch_img_metas, rois.device,
                                       results_list)
        mask_results = self._mask_forward(self.num_stages - 1, x, rois,
                                          attn_feats)
        num_imgs = len(batch_img_metas)
        all_masks = mask_results['mask_preds'].reshape(
            num_imgs, -1, *mask_results['mask_preds'].shape[1:])
        all_feats = mask_results['mask_feats'].reshape(
            num_imgs, -1, *mask_results['mask_feats'].shape[1:])
        all_rois = rois.reshape(num_imgs, -1, 5)
        num_classes = self.bbox_head[-1].num_classes
        mask_preds, det_feats, det_rois = [], [], []
        for img_id, topk_inds in enumerate(topk_inds_list):
            masks = all_masks[img_id].flatten(0, 1)[topk_inds]
            mask_preds.append(masks[:, None].repeat(1, num_classes, 1, 1))
            query_inds = topk_inds // num_classes
            det_feats.append(all_feats[img_id][query_inds])
            det_rois.append(all_rois[img_id][query_inds])
        self.predict_mask_iou(x, torch.cat(det_rois), torch.cat(det_feats),
                              _cat(mask_preds), results_list,
                              is_prob=False)
        return self.mask_head[-1].predict_by_feat(
            mask_preds,
            results_list,
            batch_img_metas,
            rcnn_test_cfg=self.test_cfg,
            rescale=rescale)
