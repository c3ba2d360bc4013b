"""Single-stage and query-based instance segmentors with mask scoring.

Each class is the mmdet detector with :class:`MaskScoringDetectorMixin` in
front and its own ``loss``, ``predict`` and tensor-mode ``_forward``: the
host's path line for line, then the scorer, called by name. Their results
keep the host's ``scores`` bit for bit and add ``mask_ious`` and
``mask_scores``.
"""
from typing import Dict, List, Tuple

import torch
import torch.nn.functional as F
from mmdet.models.dense_heads import RTMDetInsHead
from mmdet.models.detectors import CondInst, Mask2Former, RTMDet, SOLOv2
from mmdet.structures import OptSampleList, SampleList
from torch import Tensor

from mmdet_msrcnn.registry import MODELS
from .mask_scoring_detector import (MaskScoringDetectorMixin, eval_mode,
                                    input_scale_metas, tensor_mode_samples)


@MODELS.register_module()
class MaskScoringRTMDet(MaskScoringDetectorMixin, RTMDet):
    """RTMDet-Ins with mask scoring.

    ``scores`` is RTMDet-Ins's own: the sigmoid classification score of the
    detection's class, as its NMS keeps it. ``mask_scores = scores *
    mask_ious``. The scorer reads the neck's levels (strides 8, 16, 32)
    and the host's boxes.

    Args:
        mask_scorer (dict): See :class:`MaskScoringDetectorMixin`.
        *args, **kwargs: RTMDet's; ``bbox_head`` must be an RTMDet-Ins head
            (``RTMDetInsSepBNHead``).
    """

    def _check_host(self) -> None:
        if not isinstance(self.bbox_head, RTMDetInsHead):
            raise TypeError(
                f'{type(self).__name__} scores instance masks: bbox_head '
                f'must be an RTMDet-Ins head (RTMDetInsSepBNHead), not '
                f'{type(self.bbox_head).__name__}.')

    def _host_num_classes(self) -> int:
        return self.bbox_head.num_classes

    def loss(self, batch_inputs: Tensor,
             batch_data_samples: SampleList) -> Dict[str, Tensor]:
        """RTMDet's losses plus ``loss_mask_iou`` on its own detections."""
        x = self.extract_feat(batch_inputs)
        losses = self.bbox_head.loss(x, batch_data_samples)
        dets = self.scorer_detections(x, batch_data_samples)
        losses.update(self.mask_scorer.loss(x, dets, batch_data_samples))
        return losses

    def scorer_detections(self, x: Tuple[Tensor],
                          batch_data_samples: SampleList) -> List:
        with torch.no_grad(), eval_mode(self.bbox_head):
            return self.bbox_head.predict(x, batch_data_samples, rescale=False)

    def predict(self,
                batch_inputs: Tensor,
                batch_data_samples: SampleList,
                rescale: bool = True) -> SampleList:
        """RTMDet-Ins's detections, each with ``mask_ious`` / ``mask_scores``.
        """
        x = self.extract_feat(batch_inputs)
        results_list = self.bbox_head.predict(
            x, batch_data_samples, rescale=rescale)
        metas = [s.metainfo for s in batch_data_samples]
        self.mask_scorer.predict(x, results_list, metas, rescaled=rescale)
        return self.add_pred_to_datasample(batch_data_samples, results_list)

    def _forward(self,
                 batch_inputs: Tensor,
                 batch_data_samples: OptSampleList = None) -> tuple:
        """The head's outputs and the scorer's on the final detections.

        Returns:
            tuple: RTMDet-Ins's ``(cls_scores, bbox_preds, kernel_preds,
            mask_feat)`` and the MaskIoU predictions of its post-processed
            detections (input scale), (N, num_classes), N over the batch.
        """
        samples = tensor_mode_samples(batch_inputs, batch_data_samples)
        metas = [s.metainfo for s in samples]
        x = self.extract_feat(batch_inputs)
        outs = self.bbox_head.forward(x)
        dets = self.bbox_head.predict_by_feat(
            *outs, batch_img_metas=metas, rescale=False)
        return tuple(outs) + (self.mask_scorer.score(x, dets, metas), )


@MODELS.register_module()
class MaskScoringSOLOv2(MaskScoringDetectorMixin, SOLOv2):
    """SOLOv2 with mask scoring.

    ``scores`` is SOLOv2's own: classification score x maskness (mean mask
    probability over the binarised mask), decayed by Matrix NMS.
    ``mask_scores = scores * mask_ious``. SOLOv2's results carry
    placeholder boxes (zeros), so the scorer reads each detection at its
    mask's tight box; it reads the FPN's levels (strides 4 to 32 by
    default). SOLOv2 always pastes its masks at the original image size;
    on a training batch the scorer's detections are produced at the input
    scale (metas with ``ori_shape = img_shape``).

    Args:
        mask_scorer (dict): See :class:`MaskScoringDetectorMixin`.
        *args, **kwargs: SOLOv2's.
    """

    scorer_box_source = 'mask'

    def _host_num_classes(self) -> int:
        return self.mask_head.num_classes

    def loss(self, batch_inputs: Tensor,
             batch_data_samples: SampleList) -> Dict[str, Tensor]:
        """SOLOv2's losses plus ``loss_mask_iou`` on its own detections."""
        x = self.extract_feat(batch_inputs)
        losses = self.mask_head.loss(
            x, batch_data_samples, positive_infos=None)
        dets = self.scorer_detections(x, batch_data_samples)
        losses.update(
            self.mask_scorer.loss(
                x, dets, batch_data_samples,
                box_source=self.scorer_box_source))
        return losses

    def scorer_detections(self, x: Tuple[Tensor],
                          batch_data_samples: SampleList) -> List:
        metas = input_scale_metas(batch_data_samples)
        with torch.no_grad(), eval_mode(self.mask_head):
            outs = self.mask_head(x)
            return self.mask_head.predict_by_feat(*outs, batch_img_metas=metas)

    def predict(self,
                batch_inputs: Tensor,
                batch_data_samples: SampleList,
                rescale: bool = True) -> SampleList:
        """SOLOv2's detections, each with ``mask_ious`` / ``mask_scores``.

        SOLOv2's masks are at the original image size whatever
        ``rescale``; the scorer maps them to the input frame by the
        ``scale_factor``.
        """
        x = self.extract_feat(batch_inputs)
        results_list = self.mask_head.predict(
            x, batch_data_samples, rescale=rescale, results_list=None)
        metas = [s.metainfo for s in batch_data_samples]
        self.mask_scorer.predict(
            x,
            results_list,
            metas,
            rescaled=True,
            box_source=self.scorer_box_source)
        return self.add_pred_to_datasample(batch_data_samples, results_list)

    def _forward(self,
                 batch_inputs: Tensor,
                 batch_data_samples: OptSampleList = None) -> tuple:
        """The mask head's outputs and the scorer's on the final detections.

        Returns:
            tuple: SOLOv2's ``(mask_outs, )`` as mmdet's tensor mode, and
            the MaskIoU predictions of its post-processed detections,
            (N, num_classes).
        """
        samples = tensor_mode_samples(batch_inputs, batch_data_samples)
        metas = input_scale_metas(samples)
        x = self.extract_feat(batch_inputs)
        mask_outs = self.mask_head.forward(x)
        # predict_by_feat rewrites its list of class scores in place
        kernels, cls_scores, mask_feats = mask_outs
        dets = self.mask_head.predict_by_feat(
            list(kernels), list(cls_scores), mask_feats, batch_img_metas=metas)
        return (mask_outs,
                self.mask_scorer.score(
                    x, dets, metas, box_source=self.scorer_box_source))


@MODELS.register_module()
class MaskScoringCondInst(MaskScoringDetectorMixin, CondInst):
    """CondInst with mask scoring.

    ``scores`` is CondInst's own: the sigmoid classification score times
    the centerness (its FCOS-style box head), after NMS. ``mask_scores =
    scores * mask_ious``. The scorer reads the FPN's levels (strides 8 to
    64 by default) and the host's boxes.

    Args:
        mask_scorer (dict): See :class:`MaskScoringDetectorMixin`.
        *args, **kwargs: CondInst's.
    """

    def _host_num_classes(self) -> int:
        return self.bbox_head.num_classes

    def loss(self, batch_inputs: Tensor,
             batch_data_samples: SampleList) -> Dict[str, Tensor]:
        """CondInst's losses plus ``loss_mask_iou`` on its own detections.
        """
        x = self.extract_feat(batch_inputs)
        losses = self.bbox_head.loss(x, batch_data_samples)
        positive_infos = self.bbox_head.get_positive_infos()
        mask_loss = self.mask_head.loss(
            x, batch_data_samples, positive_infos=positive_infos)
        assert not set(mask_loss.keys()) & set(losses.keys())
        losses.update(mask_loss)
        dets = self.scorer_detections(x, batch_data_samples)
        losses.update(self.mask_scorer.loss(x, dets, batch_data_samples))
        return losses

    def scorer_detections(self, x: Tuple[Tensor],
                          batch_data_samples: SampleList) -> List:
        # eval mode matters here: CondInst's box head scales its distances
        # by the stride only outside training
        with torch.no_grad(), eval_mode(self.bbox_head, self.mask_head):
            results_list = self.bbox_head.predict(
                x, batch_data_samples, rescale=False)
            return self.mask_head.predict(
                x,
                batch_data_samples,
                rescale=False,
                results_list=results_list)

    def predict(self,
                batch_inputs: Tensor,
                batch_data_samples: SampleList,
                rescale: bool = True) -> SampleList:
        """CondInst's detections, each with ``mask_ious`` / ``mask_scores``.
        """
        x = self.extract_feat(batch_inputs)
        # as the host: the mask head rescales boxes and masks together
        results_list = self.bbox_head.predict(
            x, batch_data_samples, rescale=False)
        results_list = self.mask_head.predict(
            x, batch_data_samples, rescale=rescale, results_list=results_list)
        metas = [s.metainfo for s in batch_data_samples]
        self.mask_scorer.predict(x, results_list, metas, rescaled=rescale)
        return self.add_pred_to_datasample(batch_data_samples, results_list)

    def _forward(self,
                 batch_inputs: Tensor,
                 batch_data_samples: OptSampleList = None) -> tuple:
        """Both heads' outputs on the test path, and the scorer's.

        mmdet's CondInst tensor mode runs the box head's *training* loss to
        find positives (it needs ground truth); this one follows the test
        path instead: the mask head runs on the post-processed boxes.

        Returns:
            tuple: ``(bbox_outs, mask_outs, mask_ious)``, the last the
            MaskIoU predictions of the final detections, (N, num_classes).
        """
        samples = tensor_mode_samples(batch_inputs, batch_data_samples)
        metas = [s.metainfo for s in samples]
        x = self.extract_feat(batch_inputs)
        bbox_outs = self.bbox_head.forward(x)
        dets = self.bbox_head.predict_by_feat(
            *bbox_outs, batch_img_metas=metas, rescale=False)
        mask_outs = self.mask_head.forward(x, dets)
        dets = self.mask_head.predict_by_feat(
            *mask_outs,
            results_list=dets,
            batch_img_metas=metas,
            rescale=False)
        return (bbox_outs, mask_outs, self.mask_scorer.score(x, dets, metas))


@MODELS.register_module()
class MaskScoringMask2Former(MaskScoringDetectorMixin, Mask2Former):
    """Mask2Former (instance segmentation) with mask scoring.

    ``scores`` is Mask2Former's own: the softmax classification score of the
    (query, class) pair times the mean mask probability over the binarised
    mask. ``mask_scores = scores * mask_ious``. The scorer reads the
    backbone levels Mask2Former's pixel decoder takes (strides 4 to 32,
    their channels brought to one width by the scorer's 1x1 laterals) at
    the host's boxes (the masks' tight boxes). Panoptic and semantic
    outputs are refused: ``test_cfg`` must have ``panoptic_on=False``,
    ``semantic_on=False``, ``instance_on=True`` and the heads no stuff
    classes.

    Args:
        mask_scorer (dict): See :class:`MaskScoringDetectorMixin`.
        *args, **kwargs: Mask2Former's.
    """

    def _check_host(self) -> None:
        cfg = self.test_cfg or {}
        wrong = [
            f'{key}={cfg.get(key, default)!r}'
            for key, default, want in (('panoptic_on', True,
                                        False), ('semantic_on', False, False),
                                       ('instance_on', False, True))
            if bool(cfg.get(key, default)) != want
        ]
        if self.num_stuff_classes:
            wrong.append(f'num_stuff_classes={self.num_stuff_classes}')
        if wrong:
            raise ValueError(
                f'{type(self).__name__} scores instance segmentation only, '
                f'but the config has {", ".join(wrong)}; use an instance '
                'config (e.g. mmdet::mask2former/mask2former_r50_8xb2-lsj-'
                '50e_coco.py: test_cfg panoptic_on=False, semantic_on=False, '
                'instance_on=True, num_stuff_classes=0).')

    def _host_num_classes(self) -> int:
        return self.num_things_classes

    def loss(self, batch_inputs: Tensor,
             batch_data_samples: SampleList) -> Dict[str, Tensor]:
        """Mask2Former's losses plus ``loss_mask_iou`` on its detections."""
        x = self.extract_feat(batch_inputs)
        losses = self.panoptic_head.loss(x, batch_data_samples)
        dets = self.scorer_detections(x, batch_data_samples)
        losses.update(self.mask_scorer.loss(x, dets, batch_data_samples))
        return losses

    def scorer_detections(self, x: Tuple[Tensor],
                          batch_data_samples: SampleList) -> List:
        with torch.no_grad(), eval_mode(self.panoptic_head,
                                        self.panoptic_fusion_head):
            mask_cls, mask_pred = self.panoptic_head.predict(
                x, batch_data_samples)
            results = self.panoptic_fusion_head.predict(
                mask_cls, mask_pred, batch_data_samples, rescale=False)
        return [r['ins_results'] for r in results]

    def predict(self,
                batch_inputs: Tensor,
                batch_data_samples: SampleList,
                rescale: bool = True) -> SampleList:
        """Mask2Former's instances, each with ``mask_ious`` /
        ``mask_scores``."""
        feats = self.extract_feat(batch_inputs)
        mask_cls_results, mask_pred_results = self.panoptic_head.predict(
            feats, batch_data_samples)
        results_list = self.panoptic_fusion_head.predict(
            mask_cls_results,
            mask_pred_results,
            batch_data_samples,
            rescale=rescale)
        metas = [s.metainfo for s in batch_data_samples]
        self.mask_scorer.predict(
            feats, [r['ins_results'] for r in results_list],
            metas,
            rescaled=rescale)
        return self.add_pred_to_datasample(batch_data_samples, results_list)

    def _forward(self,
                 batch_inputs: Tensor,
                 batch_data_samples: OptSampleList = None) -> tuple:
        """The head's outputs and the scorer's on the final instances.

        Returns:
            tuple: Mask2Former's ``(cls_pred_list, mask_pred_list)`` (every
            decoder layer) and the MaskIoU predictions of the instances of
            the last layer, (N, num_classes).
        """
        samples = tensor_mode_samples(batch_inputs, batch_data_samples)
        metas = [s.metainfo for s in samples]
        feats = self.extract_feat(batch_inputs)
        cls_preds, mask_preds = self.panoptic_head.forward(feats, samples)
        # the last layer at the input size, as the head's predict does
        masks = F.interpolate(
            mask_preds[-1],
            size=tuple(metas[0]['batch_input_shape'][:2]),
            mode='bilinear',
            align_corners=False)
        results = self.panoptic_fusion_head.predict(
            cls_preds[-1], masks, samples, rescale=False)
        dets = [r['ins_results'] for r in results]
        return (cls_preds, mask_preds,
                self.mask_scorer.score(feats, dets, metas))
