"""Mask scoring for any mmdet RoI head that has a mask branch.

Mixing :class:`MaskScoringMixin` in front of an mmdet RoI head class adds a
MaskIoU head without touching the host's code::

    @MODELS.register_module()
    class MyMaskScoringRoIHead(MaskScoringMixin, MyRoIHead):
        pass

How it plugs in: while the host runs its own ``mask_loss`` /
``predict_mask``, the mixin listens to the mask head that produced the final
mask (``mask_head`` or ``mask_head[stage]``):

* a forward pre-hook records the mask head's input, the mask RoI feature;
* ``loss_and_target`` is observed to take the mask logits, the sampling
  results, the ground truth and the mask targets it computed;
* ``predict_by_feat`` is observed to take the final per-image mask
  predictions (merged over stages for cascades, point-refined for
  PointRend).

From those the mixin computes the MaskIoU targets and loss, or the
predicted MaskIoU and the mask score, with the one
:class:`~mmdet_msrcnn.models.mask_heads.MaskIoUHead` implementation. The
host's masks, boxes and classification scores are left as they are.
"""
import inspect
from contextlib import contextmanager
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmdet.structures.bbox import bbox2roi
from mmengine.config import ConfigDict
from torch import Tensor, nn

from mmdet_msrcnn.registry import MODELS

MaskIoUHeadCfg = Union[dict, ConfigDict, Sequence[Union[dict, ConfigDict]]]


class _MaskHeadRecorder:
    """What one mask head saw and returned during a host call."""

    def __init__(self) -> None:
        self.feats: Optional[Tensor] = None
        self.loss_inputs: Optional[Dict[str, Any]] = None
        self.mask_targets: Optional[Tensor] = None
        self.predict_inputs: Optional[Dict[str, Any]] = None


@contextmanager
def record_mask_head(mask_head: nn.Module):
    """Record the input feature and target/predict calls of a mask head.

    Args:
        mask_head (nn.Module): An mmdet mask head (``FCNMaskHead`` and its
            subclasses: HTC's, PointRend's coarse head, ...).

    Yields:
        _MaskHeadRecorder: Filled while the block runs.
    """
    rec = _MaskHeadRecorder()

    def pre_hook(module, args):
        rec.feats = args[0]

    orig_loss = mask_head.loss_and_target
    orig_predict = mask_head.predict_by_feat

    def loss_and_target(*args, **kwargs):
        out = orig_loss(*args, **kwargs)
        rec.loss_inputs = kwargs
        rec.mask_targets = out['mask_targets']
        return out

    def predict_by_feat(*args, **kwargs):
        rec.predict_inputs = kwargs
        return orig_predict(*args, **kwargs)

    # nested recorders (an analysis tool around a training step) each put
    # back what they found
    previous = {
        name: mask_head.__dict__[name]
        for name in ('loss_and_target', 'predict_by_feat')
        if name in mask_head.__dict__
    }
    handle = mask_head.register_forward_pre_hook(pre_hook)
    mask_head.loss_and_target = loss_and_target
    mask_head.predict_by_feat = predict_by_feat
    try:
        yield rec
    finally:
        handle.remove()
        for name in ('loss_and_target', 'predict_by_feat'):
            if name in previous:
                setattr(mask_head, name, previous[name])
            else:
                delattr(mask_head, name)


def select_class_masks(mask_preds: Tensor, labels: Tensor) -> Tensor:
    """Pick each RoI's class channel (or the single class-agnostic one).

    Args:
        mask_preds (Tensor): Shape (N, C, M, M).
        labels (Tensor): Shape (N,).

    Returns:
        Tensor: Shape (N, M, M).
    """
    if mask_preds.shape[1] == 1:
        return mask_preds[:, 0]
    rows = torch.arange(labels.numel(), device=mask_preds.device)
    return mask_preds[rows, labels]


def build_mask_iou_head(cfg) -> nn.Module:
    """Build a MaskIoU head, refusing mmdet's same-named class clearly.

    A bare ``type='MaskIoUHead'`` resolves to mmdet's ``MaskIoUHead``
    (default scope ``mmdet``), which has another interface: our options
    reach its ``__init__`` as unexpected keywords, or it builds and fails
    deep inside the loss.

    Args:
        cfg (dict): Config of the MaskIoU head.

    Returns:
        nn.Module: The head.
    """
    from mmdet.models.roi_heads.mask_heads import \
        MaskIoUHead as MMDetMaskIoUHead
    hint = ("mask_iou_head type={!r} resolves to mmdet's MaskIoUHead; "
            "use type='mmdet_msrcnn.MaskIoUHead'.")
    try:
        head = MODELS.build(cfg)
    except TypeError as err:
        if cfg.get('type') == 'MaskIoUHead' and 'MaskIoUHead' in str(err):
            raise TypeError(f"{hint.format(cfg['type'])} ({err})") from err
        raise
    if isinstance(head, MMDetMaskIoUHead):
        raise TypeError(hint.format(cfg.get('type')))
    return head


class MaskScoringMixin:
    """Add a MaskIoU head to an mmdet RoI head with a mask branch.

    Args:
        mask_iou_head (dict | list[dict]): Config of the MaskIoU head. For
            multi-stage hosts, one dict is shared by every scored stage; a
            list gives each stage its own head (``None`` entries leave a
            stage unscored).
        mask_iou_roi_extractor (dict, optional): A separate RoI extractor
            for the MaskIoU head's feature (e.g. ``output_size=28`` for the
            paper's high-resolution-feature ablation). ``None`` uses the mask
            head's own input feature.
        mask_iou_stages (str | list[int]): Multi-stage hosts only: which
            stages train a MaskIoU head, ``'last'`` (default), ``'all'`` or a
            list of stage indices. Test time always scores the final
            (merged) mask with the last stage's head.
        mask_iou_loss_weights (list[float], optional): Extra per-stage
            factors of the MaskIoU loss, on top of the host's
            ``stage_loss_weights``. Defaults to 1 for every stage.
        mask_score_as_score (bool): Also write ``mask_scores`` into
            ``scores``. Defaults to False (``scores`` keeps the
            classification score, so box AP is unchanged).
        detach_mask (bool): Stop the MaskIoU loss from reaching the mask
            logits through the mask input, so the mask head is trained by
            its own loss only. Defaults to True.
    """

    def __init__(self,
                 *args,
                 mask_iou_head: MaskIoUHeadCfg = None,
                 mask_iou_roi_extractor: Optional[dict] = None,
                 mask_iou_stages: Union[str, Sequence[int]] = 'last',
                 mask_iou_loss_weights: Optional[Sequence[float]] = None,
                 mask_score_as_score: bool = False,
                 detach_mask: bool = True,
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if mask_iou_head is None:
            raise ValueError(
                f'{type(self).__name__} needs a `mask_iou_head` config, e.g. '
                "dict(type='mmdet_msrcnn.MaskIoUHead', num_classes=80).")
        if not getattr(self, 'with_mask', False):
            raise ValueError(
                f'{type(self).__name__}: mask scoring needs a mask branch; '
                'set `mask_head` and `mask_roi_extractor` in the roi_head.')
        self.mask_score_as_score = mask_score_as_score
        self.detach_mask = detach_mask
        num_stages = self._num_mask_stages()
        self.scored_stages = self._parse_stages(mask_iou_stages, num_stages)
        if isinstance(mask_iou_head, (list, tuple)):
            if len(mask_iou_head) != num_stages:
                raise ValueError(
                    f'mask_iou_head has {len(mask_iou_head)} entries but the '
                    f'RoI head has {num_stages} mask stages; give one config '
                    '(shared) or one per stage.')
            for i in self.scored_stages:
                if mask_iou_head[i] is None:
                    raise ValueError(
                        f'mask_iou_head[{i}] is None but stage {i} is in '
                        f'mask_iou_stages={mask_iou_stages!r}; give it a '
                        'MaskIoU head config or leave the stage out.')
            self.mask_iou_head = nn.ModuleList([
                build_mask_iou_head(cfg) if cfg is not None
                and i in self.scored_stages else nn.Identity()
                for i, cfg in enumerate(mask_iou_head)
            ])
        else:
            self.mask_iou_head = build_mask_iou_head(mask_iou_head)
        if mask_iou_loss_weights is None:
            mask_iou_loss_weights = [1.0] * num_stages
        if len(mask_iou_loss_weights) != num_stages:
            raise ValueError(
                f'mask_iou_loss_weights has {len(mask_iou_loss_weights)} '
                f'entries, expected one per mask stage ({num_stages}).')
        self.mask_iou_loss_weights = list(mask_iou_loss_weights)
        self.mask_iou_roi_extractor = (
            MODELS.build(mask_iou_roi_extractor)
            if mask_iou_roi_extractor is not None else None)
        self._check_mask_iou_heads()
        if (num_stages - 1) not in self.scored_stages:
            raise ValueError(
                f'mask_iou_stages={mask_iou_stages!r} leaves the last mask '
                'stage unscored, but inference scores the final mask with '
                "the last stage's MaskIoU head; include the last stage.")

    # ------------------------------------------------------------------
    # stage bookkeeping
    def _num_mask_stages(self) -> int:
        return len(self.mask_head) if isinstance(self.mask_head,
                                                 nn.ModuleList) else 1

    @staticmethod
    def _parse_stages(stages, num_stages: int) -> List[int]:
        if stages == 'last':
            return [num_stages - 1]
        if stages == 'all':
            return list(range(num_stages))
        if isinstance(stages, (list, tuple)) and all(
                isinstance(s, int) and -num_stages <= s < num_stages
                for s in stages):
            return sorted({s % num_stages for s in stages})
        raise ValueError(
            f"mask_iou_stages={stages!r}: use 'last', 'all' or a list of "
            f'stage indices below {num_stages}.')

    def _stage_heads(self, stage: int) -> Tuple[nn.Module, nn.Module]:
        """The mask head and MaskIoU head of a stage (0 for single-stage)."""
        if isinstance(self.mask_head, nn.ModuleList):
            mask_head = self.mask_head[stage]
        else:
            mask_head = self.mask_head
        if isinstance(self.mask_iou_head, nn.ModuleList):
            iou_head = self.mask_iou_head[stage]
        else:
            iou_head = self.mask_iou_head
        return mask_head, iou_head

    def _bbox_num_classes(self) -> int:
        bbox_head = self.bbox_head
        if isinstance(bbox_head, nn.ModuleList):
            bbox_head = bbox_head[-1]
        return bbox_head.num_classes

    def _stage_feat_extractor(self, stage: int) -> nn.Module:
        """The RoI extractor whose output the stage's MaskIoU head reads."""
        if self.mask_iou_roi_extractor is not None:
            return self.mask_iou_roi_extractor
        ext = self.mask_roi_extractor
        return ext[stage] if isinstance(ext, nn.ModuleList) else ext

    def _stage_train_mask_size(self, stage: int) -> Optional[int]:
        """Side of the training mask targets of a stage, if configured."""
        cfg = self.train_cfg
        if isinstance(cfg, (list, tuple)):
            cfg = cfg[stage]
        size = cfg.get('mask_size') if cfg is not None else None
        if isinstance(size, (list, tuple)):
            size = size[0] if len(set(size)) == 1 else None
        return size

    def _check_mask_iou_heads(self) -> None:
        """Refuse MaskIoU heads that do not fit the host, at build time."""
        num_classes = self._bbox_num_classes()
        for stage in self.scored_stages:
            _, head = self._stage_heads(stage)
            name = 'mask_iou_head' + (f'[{stage}]' if isinstance(
                self.mask_iou_head, nn.ModuleList) else '')
            if head.num_classes != num_classes:
                raise ValueError(
                    f'{name}.num_classes={head.num_classes} differs '
                    f'from bbox_head.num_classes={num_classes}; set them '
                    'equal (the MaskIoU head has one output per class).')
            self._check_feature_fit(stage, head, name)
            mask_size = self._stage_train_mask_size(stage)
            if mask_size is not None and mask_size != head.mask_size:
                raise ValueError(
                    f'{name}.mask_size={head.mask_size} differs from the '
                    f'training mask size (train_cfg.rcnn.mask_size='
                    f'{mask_size}, the mask head\'s output); set '
                    'mask_iou_head.mask_size to it.')

    def _check_feature_fit(self, stage: int, head: nn.Module,
                           name: str) -> None:
        """The head's ``roi_feat_size`` / ``in_channels`` vs its extractor.

        C4 hosts (a shared res5 head between the extractor and the mask
        head) are left to the head's forward check.
        """
        if self.mask_iou_roi_extractor is None and getattr(
                self, 'with_shared_head', False):
            return
        ext = self._stage_feat_extractor(stage)
        ext_name = ('mask_iou_roi_extractor' if self.mask_iou_roi_extractor
                    is not None else 'mask_roi_extractor')
        layers = getattr(ext, 'roi_layers', None)
        size = getattr(layers[0], 'output_size', None) if layers else None
        if size is not None and tuple(size) != (head.roi_feat_size, ) * 2:
            raise ValueError(
                f'{name}.roi_feat_size={head.roi_feat_size} does not fit '
                f'the {ext_name} (roi_layer.output_size={tuple(size)}); '
                'set mask_iou_head.roi_feat_size to that output size.')
        channels = getattr(ext, 'out_channels', None)
        uses_feats = getattr(head, 'input_mode', 'concat') != 'mask_only'
        if uses_feats and channels is not None and \
                channels != head.in_channels:
            raise ValueError(
                f'{name}.in_channels={head.in_channels} does not fit the '
                f'{ext_name} (out_channels={channels}); set '
                'mask_iou_head.in_channels to its out_channels.')

    # ------------------------------------------------------------------
    # shared pieces
    def _mask_iou_feats(self, x: Tuple[Tensor], rois: Tensor,
                        mask_feats: Tensor) -> Tensor:
        if self.mask_iou_roi_extractor is None:
            return mask_feats
        ext = self.mask_iou_roi_extractor
        return ext(x[:ext.num_inputs], rois)

    def _mask_iou_input(self, iou_head: nn.Module, mask_preds: Tensor,
                        labels: Tensor, is_prob: bool) -> Tensor:
        """Mask probabilities fed to the MaskIoU head."""
        if getattr(iou_head, 'input_mode', 'concat') != 'concat_all_classes':
            # pick the class first: the sigmoid of one mask, not of all
            mask_preds = select_class_masks(mask_preds, labels)
        probs = mask_preds if is_prob else mask_preds.sigmoid()
        if self.detach_mask:
            probs = probs.detach()
        return probs

    # ------------------------------------------------------------------
    # training
    def _host_arguments(self, method: str, args: tuple,
                        kwargs: dict) -> Dict[str, Any]:
        """Name the arguments of a call to the host's ``method``."""
        host = getattr(super(MaskScoringMixin, self), method)
        return inspect.signature(host).bind(*args, **kwargs).arguments

    def mask_loss(self, *args, **kwargs) -> dict:
        """Run the host's ``mask_loss`` and add ``loss_mask_iou``.

        The arguments are the host's own (``stage`` first for cascades).
        """
        named = self._host_arguments('mask_loss', args, kwargs)
        stage = named.get('stage', 0)
        mask_head, iou_head = self._stage_heads(stage)
        with record_mask_head(mask_head) as rec:
            mask_results = super().mask_loss(*args, **kwargs)
        if stage not in self.scored_stages:
            return mask_results
        loss = self.mask_iou_loss(iou_head, named['x'], rec)
        weight = self.mask_iou_loss_weights[stage]
        if weight != 1:
            loss = {k: v * weight for k, v in loss.items()}
        mask_results['loss_mask'].update(loss)
        return mask_results

    def mask_iou_loss(self, iou_head: nn.Module, x: Tuple[Tensor],
                      rec: _MaskHeadRecorder) -> Dict[str, Tensor]:
        """MaskIoU loss from what the mask head saw during ``mask_loss``.

        Args:
            iou_head (nn.Module): The stage's MaskIoU head.
            x (tuple[Tensor]): Multi-level image features.
            rec (_MaskHeadRecorder): The mask head's recorded call.

        Returns:
            dict[str, Tensor]: ``loss_mask_iou``.
        """
        inputs = rec.loss_inputs
        sampling_results = inputs['sampling_results']
        pos_labels = torch.cat(
            [res.pos_gt_labels for res in sampling_results]).long()
        mask_preds = inputs['mask_preds']
        roi_feats = rec.feats
        if self.mask_iou_roi_extractor is not None:
            roi_feats = self._mask_iou_feats(
                x, bbox2roi([res.pos_priors for res in sampling_results]),
                roi_feats)
        iou_preds = iou_head(
            roi_feats,
            self._mask_iou_input(iou_head, mask_preds, pos_labels, False))
        cfg = inputs['rcnn_train_cfg']
        thr = cfg.get('mask_thr_binary', 0.5) if cfg is not None else 0.5
        extra = {}
        if getattr(iou_head, 'target_mode', None) == 'present_classes':
            extra['all_mask_probs'] = mask_preds.detach().sigmoid()
        targets = iou_head.get_targets(
            select_class_masks(mask_preds, pos_labels).sigmoid(),
            rec.mask_targets, sampling_results,
            inputs['batch_gt_instances'], thr, **extra)
        return iou_head.loss(iou_preds, targets, pos_labels)

    # ------------------------------------------------------------------
    # inference
    def predict_mask(self, *args, **kwargs) -> List:
        """Run the host's ``predict_mask``, then score its final masks.

        The arguments are the host's own. Adds ``mask_ious`` (predicted
        MaskIoU of the chosen class, clamped to [0, 1]) and ``mask_scores``
        (``scores * mask_ious``) to every result; ``scores`` stays the
        classification score unless ``mask_score_as_score``.
        """
        named = self._host_arguments('predict_mask', args, kwargs)
        mask_head, iou_head = self._stage_heads(self._num_mask_stages() - 1)
        rois = bbox2roi([res.bboxes for res in named['results_list']])
        with record_mask_head(mask_head) as rec:
            results_list = super().predict_mask(*args, **kwargs)
        if rec.predict_inputs is None:  # no detection in the whole batch
            for res in results_list:
                res.mask_ious = res.scores.new_zeros(len(res))
                res.mask_scores = res.scores.new_zeros(len(res))
            return results_list
        per_img = rec.predict_inputs['mask_preds']
        is_prob = bool(rec.predict_inputs.get('activate_map', False))
        # (one image: no copy of its all-class masks)
        mask_preds = per_img[0] if len(per_img) == 1 else torch.cat(
            list(per_img))
        labels = torch.cat([res.labels for res in results_list]).long()
        roi_feats = self._mask_iou_feats(named['x'], rois, rec.feats)
        iou_preds = iou_head(
            roi_feats,
            self._mask_iou_input(iou_head, mask_preds, labels, is_prob))
        iou_preds = iou_preds.split([len(res) for res in results_list])
        return iou_head.predict_by_feat(iou_preds, results_list,
                                        self.mask_score_as_score)
