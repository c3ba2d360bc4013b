"""mmdeploy rewriters: the mask scoring heads, and mmdet's own NMS.

mmdeploy replaces a method by its import path for the length of an export
(``FUNCTION_REWRITER``). Its rewriters of ``StandardRoIHead.predict_mask``
and ``CascadeRoIHead.predict_mask`` never reach our heads, whose classes
define their own ``predict_mask``; run unpatched, that method gets the
``(dets, labels)`` tensors of mmdeploy's box stage instead of
``InstanceData`` and fails. The rewriters here give each head an export
path of the same shape as mmdeploy's Mask R-CNN (``dets``, ``labels``,
``masks``: the RoI masks) plus ``mask_ious``, computed by the heads' own
MaskIoU code (:class:`~mmdet_msrcnn.models.roi_heads.MaskScoringMixin`).

For ONNX Runtime they also replace mmdeploy's post-processing of the RPN
and of the R-CNN boxes by mmdet's own test-time semantics, so that the
exported graph finds the same detections as the PyTorch model:

* RPN: the top ``nms_pre`` anchors of each level, the empty boxes dropped
  (``min_bbox_size``), NMS within each level (mmdeploy runs one NMS across
  levels and drops proposals below its ``score_threshold``);
* R-CNN: every class scored with its own regressed box (mmdeploy gives
  every class the box of the top-scoring class), ``score_thr``, NMS within
  each class, the top ``max_per_img``.

Both NMS are hard NMS (:mod:`.nms`); a Soft-NMS test config is exported as
hard NMS with the same IoU threshold. These two rewriters act on every
two-stage mmdet detector exported for ONNX Runtime while this module is
imported; other backends keep mmdeploy's. Batch size 1.
"""
import warnings
from typing import List, Optional, Tuple

import torch
import torch.nn.functional as F
from mmdeploy.core import FUNCTION_REWRITER
from mmdeploy.codebase.mmdet.deploy import get_post_processing_params
from torch import Tensor

from mmdet_msrcnn.models.roi_heads.mask_scoring_mixin import \
    select_class_masks
from mmdet_msrcnn.models.utils.maskness import mask_maskness
from .nms import batched_nms_indices

_HEADS = 'mmdet_msrcnn.models.roi_heads.mask_scoring_roi_heads.'


def _check_single_image(batch_size: int) -> None:
    if batch_size != 1:
        raise NotImplementedError(
            'mmdet_msrcnn.deployment exports two-stage detectors for one '
            f'image per call; the export input has batch size {batch_size}.'
            ' Export with a single image (input_shape of one image).')


def hard_nms_cfg(nms_cfg: dict, where: str) -> Tuple[float, dict]:
    """The IoU threshold of a test NMS config, warning for Soft-NMS.

    Args:
        nms_cfg (dict): ``test_cfg.rpn.nms`` or ``test_cfg.rcnn.nms``.
        where (str): Which stage, for the warning.

    Returns:
        tuple[float, dict]: The IoU threshold and the config.
    """
    nms_type = nms_cfg.get('type', 'nms')
    if nms_type != 'nms':
        warnings.warn(
            f'{where}: test-time NMS type {nms_type!r} has no ONNX operator;'
            ' the exported graph runs hard NMS with the same '
            f"iou_threshold ({nms_cfg.get('iou_threshold')}). Compare it "
            "with the PyTorch model under nms=dict(type='nms') "
            '(docs/deployment.md).')
    return float(nms_cfg['iou_threshold']), nms_cfg


# ----------------------------------------------------------------------
# RPN and R-CNN boxes, as mmdet computes them (ONNX Runtime)
@FUNCTION_REWRITER.register_rewriter(
    'mmdet.models.dense_heads.rpn_head.RPNHead.predict_by_feat',
    backend='onnxruntime')
def rpn_head__predict_by_feat__mmdet_nms(self,
                                         cls_scores: List[Tensor],
                                         bbox_preds: List[Tensor],
                                         score_factors=None,
                                         batch_img_metas=None,
                                         cfg=None,
                                         rescale: bool = False,
                                         with_nms: bool = True,
                                         **kwargs) -> Tuple[Tensor, Tensor]:
    """mmdet's ``RPNHead`` proposals (per-level NMS) as tensors.

    Returns:
        tuple[Tensor, Tensor]: ``dets`` (1, P, 5), boxes and objectness,
        by decreasing score, and ``labels`` (1, P), zeros.
    """
    _check_single_image(cls_scores[0].shape[0])
    cfg = self.test_cfg if cfg is None else cfg
    img_shape = batch_img_metas[0]['img_shape']
    nms_pre = cfg.get('nms_pre', -1)
    priors = self.prior_generator.grid_priors(
        [score.shape[-2:] for score in cls_scores],
        dtype=cls_scores[0].dtype,
        device=cls_scores[0].device)
    level_scores, level_deltas, level_priors, level_ids = [], [], [], []
    for level, (cls_score, bbox_pred, prior) in enumerate(
            zip(cls_scores, bbox_preds, priors)):
        deltas = bbox_pred[0].permute(1, 2, 0).reshape(
            -1, self.bbox_coder.encode_size)
        logits = cls_score[0].permute(1, 2, 0).reshape(
            -1, self.cls_out_channels)
        if self.use_sigmoid_cls:
            scores = logits.sigmoid()[:, 0]
        else:
            scores = logits.softmax(-1)[:, 0]
        if nms_pre > 0:
            # mmdet sorts only a level with more than nms_pre anchors;
            # mmdeploy's topk rewriter clips k to the level's size, so the
            # graph also fits input shapes other than the traced one (the
            # order within a level does not change the NMS)
            scores, top = scores.topk(nms_pre)
            deltas, prior = deltas[top], prior[top]
        level_scores.append(scores)
        level_deltas.append(deltas)
        level_priors.append(prior)
        level_ids.append(torch.full_like(scores, level, dtype=torch.long))
    scores = torch.cat(level_scores)
    bboxes = self.bbox_coder.decode(
        torch.cat(level_priors)[None],
        torch.cat(level_deltas)[None],
        max_shape=img_shape)[0]
    valid = torch.ones_like(scores, dtype=torch.bool)
    min_size = cfg.get('min_bbox_size', -1)
    if min_size >= 0:
        valid = ((bboxes[:, 2] - bboxes[:, 0]) > min_size) & (
            (bboxes[:, 3] - bboxes[:, 1]) > min_size)
    iou_thr, nms_cfg = hard_nms_cfg(cfg.nms, 'RPN')
    max_num = cfg.max_per_img
    if nms_cfg.get('max_num', -1) > 0:
        max_num = min(max_num, nms_cfg['max_num'])
    keep = batched_nms_indices(bboxes, scores, torch.cat(level_ids), valid,
                               iou_thr, max_num)
    dets = torch.cat([bboxes[keep], scores[keep, None]], dim=-1)
    return dets[None], keep.new_zeros(keep.shape)[None]


@FUNCTION_REWRITER.register_rewriter(
    'mmdet.models.roi_heads.bbox_heads.bbox_head.BBoxHead.predict_by_feat',
    backend='onnxruntime')
def bbox_head__predict_by_feat__mmdet_nms(
        self,
        rois: Tensor,
        cls_scores: Tensor,
        bbox_preds: Tensor,
        batch_img_metas: List[dict],
        rcnn_test_cfg: Optional[dict] = None,
        rescale: bool = False) -> Tuple[Tensor, Tensor]:
    """mmdet's R-CNN detections (per-class boxes and NMS) as tensors.

    Args:
        rois (Tensor): (1, R, 5) as mmdeploy's ``predict_bbox`` gives them.
        cls_scores (Tensor): (1, R, K + 1) logits.
        bbox_preds (Tensor): (1, R, 4K) or (1, R, 4) box deltas.

    Returns:
        tuple[Tensor, Tensor]: ``dets`` (1, D, 5), boxes and
        classification score, by decreasing score, and ``labels`` (1, D).
    """
    _check_single_image(rois.shape[0])
    if bbox_preds is None:
        raise NotImplementedError(
            'mmdet_msrcnn.deployment: a bbox head without box regression '
            'is not supported.')
    if self.custom_cls_channels:
        scores = self.loss_cls.get_activation(cls_scores)
    else:
        scores = F.softmax(cls_scores, dim=-1)
    num_classes = self.num_classes
    bboxes = self.bbox_coder.decode(
        rois[..., 1:],
        bbox_preds,
        max_shape=batch_img_metas[0]['img_shape'])[0]
    box_dim = self.bbox_coder.encode_size
    if bboxes.shape[-1] > box_dim:  # one box per class
        bboxes = bboxes.reshape(-1, num_classes, box_dim)
    else:
        bboxes = bboxes[:, None].expand(-1, num_classes, box_dim)
    scores = scores[0, :, :num_classes]
    labels = torch.arange(
        num_classes, device=scores.device).view(1, -1).expand_as(scores)
    bboxes = bboxes.reshape(-1, box_dim)
    scores = scores.reshape(-1)
    labels = labels.reshape(-1)
    iou_thr, nms_cfg = hard_nms_cfg(rcnn_test_cfg.nms, 'R-CNN')
    groups = labels
    if nms_cfg.get('class_agnostic', False):
        groups = torch.zeros_like(labels)
    keep = batched_nms_indices(bboxes, scores, groups,
                               scores > rcnn_test_cfg.score_thr, iou_thr,
                               rcnn_test_cfg.max_per_img)
    dets = torch.cat([bboxes[keep], scores[keep, None]], dim=-1)
    return dets[None], labels[keep][None]


# ----------------------------------------------------------------------
# the mask scoring heads (every backend)
def _mask_rois(dets: Tensor) -> Tensor:
    """(B, N, 5) detections as (B * N, 5) RoIs (batch index first)."""
    batch_index = torch.arange(
        dets.shape[0], device=dets.device).to(dets.dtype).view(-1, 1, 1)
    batch_index = batch_index.expand(dets.shape[0], dets.shape[1], 1)
    return torch.cat([batch_index, dets[..., :4]], dim=-1).view(-1, 5)


def _mask_ious(head, x, mask_rois: Tensor, mask_feats: Tensor,
               mask_preds: Tensor, labels: Tensor, is_prob: bool) -> Tensor:
    """``mask_ious`` of the detections, as ``predict_mask_iou`` sets them.

    The learned MaskIoU head's prediction for the detected class clamped
    to [0, 1], or the maskness for ``mask_score_source='maskness'``.
    """
    if not head.with_mask_iou:
        probs = select_class_masks(mask_preds, labels)
        if not is_prob:
            probs = probs.sigmoid()
        return mask_maskness(probs, head.test_cfg.get('mask_thr_binary', 0.5))
    iou_head = head.stage_mask_iou_head(head._num_mask_stages() - 1)
    iou_preds = head._run_mask_iou_head(
        iou_head, x, head._mask_iou_feats(x, mask_rois, mask_feats),
        head._mask_iou_input(iou_head, mask_preds, labels, is_prob),
        mask_rois)
    return iou_preds.gather(1, labels[:, None])[:, 0].clamp(0, 1)


def _roi_masks(deploy_cfg, mask_head, mask_preds: Tensor, dets: Tensor,
               labels: Tensor, is_prob: bool, img_shape, test_cfg) -> Tensor:
    """The detected class's mask probability per RoI, as mmdeploy's.

    (N, M, M) RoI masks, or with mmdeploy's
    ``post_processing.export_postprocess_mask`` the masks pasted into the
    input image and binarised, (N, H, W), as its ``FCNMaskHead`` does.
    """
    if mask_head.class_agnostic:
        probs = mask_preds[:, 0]
    else:
        probs = select_class_masks(mask_preds, labels)
    if not is_prob:
        probs = probs.sigmoid()
    params = get_post_processing_params(deploy_cfg)
    if not params.get('export_postprocess_mask', False):
        return probs
    from mmdeploy.codebase.mmdet.models.roi_heads.fcn_mask_head import \
        _do_paste_mask
    masks, _ = _do_paste_mask(
        probs[:, None],
        dets.view(-1, 5)[:, :4],
        img_shape[0],
        img_shape[1],
        skip_empty=False)
    thr = test_cfg.mask_thr_binary
    return masks >= thr if thr >= 0 else masks


def _outputs(dets: Tensor, labels: Tensor, masks: Tensor,
             mask_ious: Tensor) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    batch, num = dets.shape[:2]
    return (dets, labels, masks.reshape(batch, num, *masks.shape[-2:]),
            mask_ious.reshape(batch, num))


@FUNCTION_REWRITER.register_rewriter(_HEADS +
                                     'MaskScoringRoIHead.predict_mask')
def mask_scoring_roi_head__predict_mask(
        self,
        x: Tuple[Tensor],
        batch_img_metas: List[dict],
        results_list: Tuple[Tensor, Tensor],
        rescale: bool = False) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    """``MaskScoringRoIHead.predict_mask`` for export.

    Args:
        results_list (tuple[Tensor, Tensor]): ``dets`` (B, N, 5) and
            ``labels`` (B, N) of the box stage.

    Returns:
        tuple[Tensor]: ``dets`` (B, N, 5), ``labels`` (B, N), ``masks``
        (B, N, M, M) (the detected class's mask probability on its RoI)
        and ``mask_ious`` (B, N); ``mask_scores`` is
        ``dets[..., 4] * mask_ious``.
    """
    dets, labels = results_list
    mask_rois = _mask_rois(dets)
    flat_labels = labels.reshape(-1).long()
    mask_results = self._mask_forward(x, mask_rois)
    mask_preds = mask_results['mask_preds']
    mask_ious = _mask_ious(self, x, mask_rois, mask_results['mask_feats'],
                           mask_preds, flat_labels, is_prob=False)
    masks = _roi_masks(FUNCTION_REWRITER.get_context().cfg, self.mask_head,
                       mask_preds, dets, flat_labels, False,
                       batch_img_metas[0]['img_shape'], self.test_cfg)
    return _outputs(dets, labels, masks, mask_ious)


@FUNCTION_REWRITER.register_rewriter(
    _HEADS + 'CascadeMaskScoringRoIHead.predict_mask')
def cascade_mask_scoring_roi_head__predict_mask(
        self,
        x: Tuple[Tensor],
        batch_img_metas: List[dict],
        results_list: Tuple[Tensor, Tensor],
        rescale: bool = False) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    """``CascadeMaskScoringRoIHead.predict_mask`` for export.

    As mmdet's cascade: the mask is the mean of every stage's mask
    probabilities (mmdeploy's cascade rewriter averages the logits), scored
    by the last stage's MaskIoU head on the last stage's mask feature.
    Outputs as :func:`mask_scoring_roi_head__predict_mask`.
    """
    dets, labels = results_list
    mask_rois = _mask_rois(dets)
    flat_labels = labels.reshape(-1).long()
    stage_probs = []
    for stage in range(self.num_stages):
        mask_results = self._mask_forward(stage, x, mask_rois)
        stage_probs.append(mask_results['mask_preds'].sigmoid())
    merged = torch.stack(stage_probs).mean(dim=0)  # merge_aug_masks
    mask_ious = _mask_ious(self, x, mask_rois, mask_results['mask_feats'],
                           merged, flat_labels, is_prob=True)
    masks = _roi_masks(FUNCTION_REWRITER.get_context().cfg,
                       self.mask_head[-1], merged, dets, flat_labels, True,
                       batch_img_metas[0]['img_shape'], self.test_cfg)
    return _outputs(dets, labels, masks, mask_ious)
