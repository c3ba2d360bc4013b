"""The MaskIoU scoring that every mask scoring RoI head shares.

A mask scoring RoI head is an mmdet RoI head with :class:`MaskScoringMixin`
in front and explicit overrides of the host's own mask methods, in mmdet's
style::

    @MODELS.register_module()
    class MaskScoringRoIHead(MaskScoringMixin, StandardRoIHead):

        def mask_loss(self, x, sampling_results, bbox_feats,
                      batch_gt_instances):
            ...  # the host's mask path, keeping mask_feats / mask_targets
            loss_mask_iou = self.mask_iou_loss(
                0, x, mask_results, sampling_results, batch_gt_instances,
                self.train_cfg)
            ...

        def predict_mask(self, x, batch_img_metas, results_list,
                         rescale=False):
            ...  # the host's mask path, then, before pasting the masks
            self.predict_mask_iou(x, mask_rois, mask_feats, mask_preds,
                                  results_list, is_prob=False)
            ...

The contract, checked once when the RoI head is built
(:meth:`MaskScoringMixin._check_host_overrides`): the class that supplies
``mask_loss`` and ``predict_mask`` must be a mask scoring class (a subclass
of :class:`MaskScoringMixin`); a host whose mask methods would run
unscored is refused with its name. Nothing is hooked or patched at run time:
a reader follows ``mask_preds`` from the mask head into the MaskIoU head in
the override itself.

What the mixin holds: building and checking the MaskIoU head(s) against the
host (classes, RoI feature size, channels, mask size), the MaskIoU loss of a
stage (:meth:`mask_iou_loss`), the test-time scoring of the final masks
(:meth:`predict_mask_iou`) and the tensor-mode output (:meth:`
mask_iou_forward_tensor`).
"""
import difflib
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmdet.structures.bbox import bbox2roi, get_box_tensor
from mmengine.config import ConfigDict
from torch import Tensor, nn

from mmdet_msrcnn.registry import MODELS
from ..mask_heads.mask_iou_head import attach_mask_scores, image_indices
from ..utils.image_features import image_of
from ..utils.jitter import jitter_boxes
from ..utils.maskness import mask_maskness
from ..utils.overlap_decay import (decay_mask_scores, overlap_decay_kernel,
                                   overlap_decay_mode)

MaskIoUHeadCfg = Union[dict, ConfigDict, Sequence[Union[dict, ConfigDict]]]

#: The host methods a mask scoring class must override.
SCORED_METHODS = ('mask_loss', 'predict_mask')
#: Values of ``mask_score_source``.
MASK_SCORE_SOURCES = ('mask_iou', 'maskness')
#: Keys of ``train_cfg`` / ``test_cfg`` (``.rcnn``) the mask scoring reads;
#: a close misspelling of one of them next to them is refused.
SCORING_CFG_KEYS = ('mask_thr_binary', )


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
        mask_score_as_score (bool): Also write ``mask_scores`` into
            ``scores``. Defaults to False (``scores`` keeps the
            classification score, so box AP is unchanged).
        detach_mask (bool): Stop the MaskIoU loss from reaching the mask
            logits through the mask input, so the mask head is trained by
            its own loss only. Defaults to True.
        detach_mask_iou_feats (bool): Stop the MaskIoU loss from reaching
            the backbone and neck through the RoI feature, so the MaskIoU
            head trains on the detector's features without shaping them
            (as the detection scorer's ``detach_feats``). Defaults to False
            (the paper's, and mmdet's, joint training: the loss of the
            positive RoIs reaches the features).
        mask_score_source (str): What ``mask_scores`` multiplies ``scores``
            by: ``'mask_iou'`` the learned MaskIoU head's prediction
            [default]; ``'maskness'`` the mean mask probability over the
            binarised foreground (SOLOv2's zero-cost mask quality): no
            MaskIoU head is built or trained (``mask_iou_head=None``), and
            ``mask_ious`` holds the maskness. Every result also carries
            ``maskness``, whichever the source.
        mask_score_power (float): ``mask_scores = scores *
            mask_ious**mask_score_power``; 1 (default) is the paper's
            product. Only the ranking changes: a power above 1 spreads the
            compressed predictions apart (fit it on training images with
            ``tools/analysis/fit_mask_score_power.py``, never on the split
            you report).
        mask_iou_detections (dict, optional): Also train the MaskIoU head
            on the model's own detections of the training batch: the host's
            test-time box path (``test_cfg``: score threshold, NMS, top-k)
            on the current proposals, their masks from the mask head (no
            gradient into the detector from this), and the target of
            :meth:`MaskIoUHead.detection_targets` (IoU with the best
            same-class instance, 0 for wrong-class and background
            detections). Logged as ``loss_mask_iou_dets`` with weight
            ``loss_weight`` (default 1) times the head's own;
            ``max_per_img`` (default: ``test_cfg.max_per_img``) keeps the
            highest-scoring detections of each image only (crowded sets
            test with hundreds per image; the mask and MaskIoU heads run on
            every kept one). ``None`` (default): positive RoIs only, as in
            the paper.
        mask_iou_jittered_gts (dict, optional): Also train the MaskIoU head
            on boxes of varied quality around each ground truth: per
            instance, ``num_per_gt`` (default 4) boxes from
            :func:`~mmdet_msrcnn.models.utils.jitter_boxes` with
            ``max_offset`` (default 0.25; the shift as a fraction of the
            box's size, and the log-scale change), labelled with the
            instance's class, their masks from the mask head (no gradient
            into the detector from this) and the same targets as
            ``mask_iou_detections``. Aim: more hits of varied quality to
            order. Logged as ``loss_mask_iou_jit`` (weight ``loss_weight``,
            default 1, times the head's own). ``None`` (default): off.
        mask_overlap_decay (bool | str): At test time, once the masks are
            pasted, multiply each ``mask_scores`` by ``1 - max IoU`` of its
            mask with the same-class masks of higher mask score
            (:func:`~mmdet_msrcnn.models.utils.mask_overlap_decay`): a
            second mask of an object that box (Soft-)NMS kept drops below the
            good masks. ``True`` or ``'per_class'``: as said;
            ``'class_agnostic'``: the masks of every class above count (for
            sets where a mask of the wrong class over an object is the
            common second copy; it also lowers a true object of one class
            lying over another). ``mask_ious`` and ``scores`` (the box
            score) are kept; with ``mask_score_as_score`` the decayed score
            is written there too. Costs an N x N mask IoU per image. Not
            exported (a deploy of such a config is refused). Defaults to
            False.
        mask_overlap_decay_kernel (str, optional): ``'linear'`` (the
            default, ``None``): ``1 - IoU``; ``'second_chance'``: a lower
            mask whose ``mask_ious`` passes more of the strict IoU
            thresholds than the one above keeps that share (see
            :func:`~mmdet_msrcnn.models.utils.mask_overlap_decay`). Only
            with ``mask_overlap_decay``.

    The MaskIoU loss is logged as ``loss_mask_iou`` (``s{i}.loss_mask_iou``
    for cascades) and weighted by the MaskIoU head's own
    ``loss_iou.loss_weight`` only, never by a cascade's
    ``stage_loss_weights``.
    """

    def __init__(self,
                 *args,
                 mask_iou_head: MaskIoUHeadCfg = None,
                 mask_iou_roi_extractor: Optional[dict] = None,
                 mask_iou_stages: Union[str, Sequence[int]] = 'last',
                 mask_score_as_score: bool = False,
                 detach_mask: bool = True,
                 detach_mask_iou_feats: bool = False,
                 mask_score_source: str = 'mask_iou',
                 mask_iou_detections: Optional[dict] = None,
                 mask_iou_jittered_gts: Optional[dict] = None,
                 mask_score_power: float = 1.0,
                 mask_overlap_decay: Union[bool, str] = False,
                 mask_overlap_decay_kernel: Optional[str] = None,
                 **kwargs) -> None:
        if 'mask_iou_loss_weights' in kwargs:
            raise ValueError(
                f'{type(self).__name__}: `mask_iou_loss_weights` was '
                'removed: the MaskIoU loss now has its own weight '
                '(mask_iou_head.loss_iou.loss_weight, one head per stage for '
                "per-stage weights) and the cascade's stage_loss_weights no "
                'longer apply to it; delete the option.')
        self._check_host_overrides()
        super().__init__(*args, **kwargs)
        self._check_score_source(mask_score_source, mask_iou_head)
        self.mask_score_source = mask_score_source
        if not getattr(self, 'with_mask', False):
            raise ValueError(
                f'{type(self).__name__}: mask scoring needs a mask branch; '
                'set `mask_head` and `mask_roi_extractor` in the roi_head.')
        self.mask_score_as_score = mask_score_as_score
        if not mask_score_power > 0:
            raise ValueError(
                f'mask_score_power={mask_score_power!r} must be positive.')
        self.mask_score_power = float(mask_score_power)
        self.mask_overlap_decay = overlap_decay_mode(mask_overlap_decay)
        self.mask_overlap_decay_kernel = overlap_decay_kernel(
            mask_overlap_decay_kernel, self.mask_overlap_decay)
        self.detach_mask = detach_mask
        self.detach_mask_iou_feats = detach_mask_iou_feats
        num_stages = self._num_mask_stages()
        self.scored_stages = self._parse_stages(mask_iou_stages, num_stages)
        self.mask_iou_head = self._build_mask_iou_heads(
            mask_iou_head, mask_iou_stages, num_stages)
        self.mask_iou_roi_extractor = (
            MODELS.build(mask_iou_roi_extractor)
            if mask_iou_roi_extractor is not None else None)
        self._check_mask_iou_heads()
        if (num_stages - 1) not in self.scored_stages:
            raise ValueError(
                f'mask_iou_stages={mask_iou_stages!r} leaves the last mask '
                'stage unscored, but inference scores the final mask with '
                "the last stage's MaskIoU head; include the last stage.")
        self._check_stage_loss_weights()
        self._check_cfg_keys()
        self.mask_iou_detections = self._parse_detection_training(
            mask_iou_detections)
        self.mask_iou_jittered_gts = self._parse_jittered_gts(
            mask_iou_jittered_gts)
        self._check_score_rank_loss()

    # ------------------------------------------------------------------
    # building
    def _check_score_source(self, source: str, mask_iou_head) -> None:
        """``mask_score_source`` and ``mask_iou_head`` that fit together."""
        if source not in MASK_SCORE_SOURCES:
            raise ValueError(
                f'{type(self).__name__}: mask_score_source={source!r}; '
                f'choose one of {MASK_SCORE_SOURCES}.')
        if source == 'maskness' and mask_iou_head is not None:
            raise ValueError(
                f"{type(self).__name__}: mask_score_source='maskness' "
                'scores without a learned head; set mask_iou_head=None '
                "(or mask_score_source='mask_iou' to train it).")
        if source == 'mask_iou' and mask_iou_head is None:
            raise ValueError(
                f'{type(self).__name__} needs a `mask_iou_head` config, e.g. '
                "dict(type='mmdet_msrcnn.MaskIoUHead', num_classes=80), or "
                "mask_score_source='maskness' to score without one.")

    def _build_mask_iou_heads(self, cfg: MaskIoUHeadCfg, stages_arg,
                              num_stages: int) -> Optional[nn.Module]:
        """One head (shared), one per stage (a list) or none (maskness)."""
        if cfg is None:
            return None
        if not isinstance(cfg, (list, tuple)):
            return build_mask_iou_head(cfg)
        if len(cfg) != num_stages:
            raise ValueError(
                f'mask_iou_head has {len(cfg)} entries but the RoI head has '
                f'{num_stages} mask stages; give one config (shared) or one '
                'per stage.')
        for i in self.scored_stages:
            if cfg[i] is None:
                raise ValueError(
                    f'mask_iou_head[{i}] is None but stage {i} is in '
                    f'mask_iou_stages={stages_arg!r}; give it a MaskIoU '
                    'head config or leave the stage out.')
        return nn.ModuleList([
            build_mask_iou_head(c)
            if c is not None and i in self.scored_stages else nn.Identity()
            for i, c in enumerate(cfg)
        ])

    # ------------------------------------------------------------------
    # build-time checks
    def _check_host_overrides(self) -> None:
        """Refuse a host whose mask methods would run without scoring.

        The class that supplies each of :data:`SCORED_METHODS` must be a
        mask scoring class; otherwise the host's own method runs, the
        MaskIoU head is never trained or called, and nothing says so.
        """
        mro = type(self).__mro__
        for name in SCORED_METHODS:
            owner = next((cls for cls in mro if name in vars(cls)), None)
            if owner is None or not issubclass(owner, MaskScoringMixin):
                host = next(
                    (cls for cls in mro[1:]
                     if not issubclass(cls, MaskScoringMixin)), None)
                host_name = getattr(owner, '__name__', None) or getattr(
                    host, '__name__', '?')
                raise TypeError(
                    f'{type(self).__name__}: mask scoring does not support '
                    f'the host RoI head {host_name}: its `{name}` is not '
                    'overridden by a mask scoring class, so the MaskIoU head '
                    'would be neither trained nor used. Supported hosts: '
                    'StandardRoIHead (mmdet_msrcnn.MaskScoringRoIHead), '
                    'CascadeRoIHead (CascadeMaskScoringRoIHead), '
                    'HybridTaskCascadeRoIHead (HTCMaskScoringRoIHead), '
                    'PointRendRoIHead (PointRendMaskScoringRoIHead). For '
                    'another host, override `mask_loss` and `predict_mask` '
                    'and call `mask_iou_loss` / `predict_mask_iou` '
                    '(docs/mask_scoring_recipe.md).')

    def _check_cfg_keys(self) -> None:
        """Refuse a misspelt key we read from ``train_cfg`` / ``test_cfg``.

        ``cfg.get('mask_thr_binary', 0.5)`` would silently take the default
        for ``mask_thr_binay``; a key that is not ours but within a close
        edit distance of one of :data:`SCORING_CFG_KEYS` is an error.
        """
        for name in ('train_cfg', 'test_cfg'):
            cfgs = getattr(self, name, None)
            if not isinstance(cfgs, (list, tuple)):
                cfgs = [cfgs]
            for cfg in cfgs:
                for key in (cfg or {}):
                    if key in SCORING_CFG_KEYS:
                        continue
                    close = difflib.get_close_matches(
                        key, SCORING_CFG_KEYS, n=1, cutoff=0.85)
                    if close:
                        raise ValueError(
                            f'{type(self).__name__}: unknown key {key!r} in '
                            f'{name}.rcnn: did you mean {close[0]!r}? '
                            'The misspelt key would be ignored and the '
                            'default used; rename it.')

    #: Whether the class trains on its own detections (``loss`` override).
    supports_detection_training = False

    def _check_extra_roi_host(self, option: str) -> None:
        """Training on RoIs beyond the positives needs this host's ``loss``
        override and a learned MaskIoU head."""
        if not self.supports_detection_training:
            raise ValueError(
                f'{type(self).__name__}: {option} is supported by '
                'MaskScoringRoIHead (and PointRend) hosts only so far.')
        if not self.with_mask_iou:
            raise ValueError(f'{option} needs a learned MaskIoU head '
                             "(mask_score_source='mask_iou').")

    def _parse_detection_training(self, cfg: Optional[dict]) -> dict:
        """Check the ``mask_iou_detections`` option."""
        if cfg is None:
            return None
        self._check_extra_roi_host('mask_iou_detections')
        unknown = set(cfg) - {'loss_weight', 'max_per_img'}
        if unknown:
            raise ValueError(
                f'mask_iou_detections: unknown keys {sorted(unknown)}; '
                "it takes 'loss_weight' and 'max_per_img'.")
        max_per_img = cfg.get('max_per_img')
        if max_per_img is not None and not (isinstance(max_per_img, int)
                                            and max_per_img > 0):
            raise ValueError(
                f'mask_iou_detections.max_per_img={max_per_img!r}: give a '
                "positive int, or leave it out for test_cfg's.")
        return dict(
            loss_weight=float(cfg.get('loss_weight', 1.0)),
            max_per_img=max_per_img)

    def _check_score_rank_loss(self) -> None:
        """Refuse a ``score_rank_loss`` that would never be computed."""
        if self.mask_iou_head is None or self.mask_iou_detections is not None:
            return
        heads = (self.mask_iou_head if isinstance(
            self.mask_iou_head, nn.ModuleList) else [self.mask_iou_head])
        if any(
                getattr(h, 'score_rank_loss', None) is not None
                for h in heads):
            raise ValueError(
                'MaskIoUHead(score_rank_loss=...) ranks the mask scores of '
                "the model's own detections, which this RoI head does not "
                'train on: set mask_iou_detections=dict(...) in the roi_head, '
                'or remove score_rank_loss.')

    def _parse_jittered_gts(self, cfg: Optional[dict]) -> Optional[dict]:
        """Check the ``mask_iou_jittered_gts`` option."""
        if cfg is None:
            return None
        name = 'mask_iou_jittered_gts'
        self._check_extra_roi_host(name)
        unknown = set(cfg) - {'num_per_gt', 'max_offset', 'loss_weight'}
        if unknown:
            raise ValueError(
                f'{name}: unknown keys {sorted(unknown)}; it takes '
                "'num_per_gt', 'max_offset' and 'loss_weight'.")
        num = cfg.get('num_per_gt', 4)
        if not (isinstance(num, int) and num > 0):
            raise ValueError(
                f'{name}.num_per_gt={num!r}: give a positive int.')
        offset = float(cfg.get('max_offset', 0.25))
        if not 0 <= offset < 1:
            raise ValueError(
                f'{name}.max_offset={offset!r}: give a value in [0, 1) '
                '(a fraction of the box size).')
        return dict(
            num_per_gt=num,
            max_offset=offset,
            loss_weight=float(cfg.get('loss_weight', 1.0)))

    def _check_stage_loss_weights(self) -> None:
        """A scored cascade stage needs a non-zero stage loss weight."""
        weights = getattr(self, 'stage_loss_weights', None)
        if weights is None:
            return
        for stage in self.scored_stages:
            if weights[stage] == 0:
                raise ValueError(
                    f'stage_loss_weights[{stage}] is 0 but stage {stage} '
                    'trains a MaskIoU head: the stage would train nothing; '
                    'leave it out of mask_iou_stages.')

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

    @property
    def with_mask_iou(self) -> bool:
        """Whether a learned MaskIoU head scores the masks."""
        return self.mask_iou_head is not None

    def stage_mask_iou_head(self, stage: int) -> Optional[nn.Module]:
        """The MaskIoU head of a mask stage (0 for single-stage hosts)."""
        if isinstance(self.mask_iou_head, nn.ModuleList):
            return self.mask_iou_head[stage]
        return self.mask_iou_head

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
        if not self.with_mask_iou:
            return
        num_classes = self._bbox_num_classes()
        for stage in self.scored_stages:
            head = self.stage_mask_iou_head(stage)
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
        """The MaskIoU head's RoI feature: the mask head's, or its own."""
        if self.mask_iou_roi_extractor is None:
            feats = mask_feats
        else:
            ext = self.mask_iou_roi_extractor
            feats = ext(x[:ext.num_inputs], rois)
        return feats.detach() if self.detach_mask_iou_feats else feats

    def _run_mask_iou_head(self, iou_head: nn.Module, x: Tuple[Tensor],
                           roi_feats: Tensor, mask_input: Tensor,
                           rois: Tensor) -> Tensor:
        """Call a MaskIoU head as every caller does.

        ``iou_head(roi_feats, mask_input, rois)``, plus the image crops
        (:meth:`_mask_iou_image_crops`) for a head with ``image_input``.

        Returns:
            Tensor: (N, K) MaskIoU predictions of every class.
        """
        crops = self._mask_iou_image_crops(iou_head, x, rois)
        extra = () if crops is None else (crops, )
        return iou_head(roi_feats, mask_input, rois, *extra)

    def _mask_iou_image_crops(self, iou_head: nn.Module, x: Tuple[Tensor],
                              rois: Tensor) -> Optional[Tensor]:
        """The image crops of a head with ``image_input``, else ``None``.

        The image comes with the features
        (:class:`~mmdet_msrcnn.models.utils.FeaturesWithImage`, from the
        ``extract_feat`` of ``mmdet_msrcnn.ImageInputMaskRCNN`` and its
        siblings).
        """
        if not getattr(iou_head, 'with_image_input', False):
            return None
        image = image_of(x)
        if image is None:
            raise ValueError(
                f'{type(self).__name__}: the MaskIoU head has image_input, '
                'but the features came without the image: mmdet\'s '
                'detectors hand the RoI head the features only. Use '
                "detector type='mmdet_msrcnn.ImageInputMaskRCNN' (or "
                'ImageInputCascadeRCNN / ImageInputHybridTaskCascade / '
                'ImageInputPointRend), or drop mask_iou_head.image_input.')
        return iou_head.crop_image(image, rois)

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
    def mask_iou_loss(self, stage: int, x: Tuple[Tensor], mask_results: dict,
                      sampling_results: Sequence,
                      batch_gt_instances: Sequence,
                      rcnn_train_cfg: Optional[dict]) -> Dict[str, Tensor]:
        """MaskIoU loss of one mask stage's positive RoIs.

        Args:
            stage (int): Mask stage (0 for single-stage hosts).
            x (tuple[Tensor]): Multi-level image features.
            mask_results (dict): The stage's mask forward and targets:
                ``mask_preds`` (Tensor): mask logits, (P, K, M, M);
                ``mask_feats`` (Tensor): the mask head's input, (P, C, S, S);
                ``mask_targets`` (Tensor): the mask targets, (P, M, M).
            sampling_results (list[SamplingResult]): Per image, with
                ``pos_priors``, ``pos_gt_labels``, ``pos_assigned_gt_inds``.
            batch_gt_instances (list[InstanceData]): Ground truth per image,
                with ``masks``.
            rcnn_train_cfg (dict, optional): The stage's train config; its
                ``mask_thr_binary`` (0.5 when absent) binarises the
                predicted probability for the target.

        Returns:
            dict[str, Tensor]: ``loss_mask_iou``, a scalar; empty with
            ``mask_score_source='maskness'`` (nothing is learned).
        """
        if not self.with_mask_iou:
            return {}
        iou_head = self.stage_mask_iou_head(stage)
        pos_labels = torch.cat(
            [res.pos_gt_labels for res in sampling_results]).long()
        mask_preds = mask_results['mask_preds']
        rois = bbox2roi([res.pos_priors for res in sampling_results])
        roi_feats = self._mask_iou_feats(x, rois, mask_results['mask_feats'])
        iou_preds = self._run_mask_iou_head(
            iou_head, x, roi_feats,
            self._mask_iou_input(iou_head, mask_preds, pos_labels, False),
            rois)
        thr = rcnn_train_cfg.get('mask_thr_binary', 0.5) \
            if rcnn_train_cfg is not None else 0.5
        extra = {}
        if getattr(iou_head, 'target_mode', None) == 'present_classes':
            extra['all_mask_probs'] = mask_preds.detach().sigmoid()
        targets = iou_head.get_targets(
            select_class_masks(mask_preds, pos_labels).sigmoid(),
            mask_results['mask_targets'], sampling_results,
            batch_gt_instances, thr, **extra)
        img_inds = image_indices(
            [len(res.pos_gt_labels) for res in sampling_results],
            pos_labels.device)
        return iou_head.loss(iou_preds, targets, pos_labels, img_inds)

    def detection_mask_iou_loss(self, x: Tuple[Tensor], proposals: List,
                                batch_data_samples: List) -> Dict[str,
                                                                  Tensor]:
        """MaskIoU loss on the model's own detections of a training batch.

        Args:
            x (tuple[Tensor]): Multi-level image features.
            proposals (list[InstanceData]): Per image, the RPN proposals
                (``bboxes``), before the RoI sampling.
            batch_data_samples (list[DetDataSample]): With ``gt_instances``
                and the image metas.

        Returns:
            dict[str, Tensor]: ``loss_mask_iou_dets``; with the head's
            ``rank_loss`` also ``loss_mask_iou_dets_rank`` (pairs of
            detections of one image and label).
        """
        metas = [s.metainfo for s in batch_data_samples]
        gts = [s.gt_instances for s in batch_data_samples]
        box_cfg = self.test_cfg
        if self.mask_iou_detections['max_per_img'] is not None:
            box_cfg = ConfigDict(
                dict(
                    self.test_cfg,
                    max_per_img=self.mask_iou_detections['max_per_img']))
        with torch.no_grad():
            dets = self.predict_bbox(
                x, metas, proposals, rcnn_test_cfg=box_cfg, rescale=False)
        return self.extra_rois_mask_iou_loss(
            x, [d.bboxes for d in dets], [d.labels for d in dets], gts,
            self.mask_iou_detections['loss_weight'], 'dets',
            scores=[d.scores for d in dets])

    def jittered_gt_mask_iou_loss(self, x: Tuple[Tensor],
                                  batch_data_samples: List) -> Dict[str,
                                                                    Tensor]:
        """MaskIoU loss on boxes jittered around each ground truth.

        Args:
            x (tuple[Tensor]): Multi-level image features.
            batch_data_samples (list[DetDataSample]): With ``gt_instances``
                (``bboxes``, ``labels``, ``masks``) and ``img_shape``.

        Returns:
            dict[str, Tensor]: ``loss_mask_iou_jit``; with the head's
            ``rank_loss`` also ``loss_mask_iou_jit_rank``.
        """
        cfg = self.mask_iou_jittered_gts
        gts = [s.gt_instances for s in batch_data_samples]
        boxes = [
            jitter_boxes(
                get_box_tensor(gt.bboxes), cfg['num_per_gt'],
                cfg['max_offset'], s.metainfo['img_shape'])
            for gt, s in zip(gts, batch_data_samples)
        ]
        labels = [
            gt.labels.repeat_interleave(cfg['num_per_gt']) for gt in gts
        ]
        return self.extra_rois_mask_iou_loss(x, boxes, labels, gts,
                                             cfg['loss_weight'], 'jit')

    def extra_rois_mask_iou_loss(self, x: Tuple[Tensor], boxes: List[Tensor],
                                 labels: List[Tensor],
                                 batch_gt_instances: List, weight: float,
                                 name: str,
                                 scores: Optional[List[Tensor]] = None
                                 ) -> Dict[str, Tensor]:
        """MaskIoU loss on RoIs beyond the positives (no detector gradient).

        The RoIs' masks come from the mask head without gradient, their
        targets from :meth:`MaskIoUHead.detection_targets`.

        Args:
            x (tuple[Tensor]): Multi-level image features.
            boxes (list[Tensor]): Per image, (D_i, 4) boxes.
            labels (list[Tensor]): Per image, (D_i,) labels they are scored
                with.
            batch_gt_instances (list[InstanceData]): Ground truth per image.
            weight (float): Times the head's own loss weight.
            name (str): Loss key suffix: ``loss_mask_iou_{name}`` (and
                ``loss_mask_iou_{name}_rank``).
            scores (list[Tensor], optional): Per image, (D_i,) cls scores of
                the RoIs (detections); with the head's ``score_rank_loss``
                they give ``loss_mask_iou_{name}_score_rank``.

        Returns:
            dict[str, Tensor]: The regression loss and, with the head's
            ``rank_loss``, the ranking loss (pairs of one image and label)
            and, with its ``score_rank_loss`` and ``scores``, the mask-score
            ranking loss (pairs of one label); zeros that keep every head
            parameter in the graph when there is no RoI.
        """
        iou_head = self.stage_mask_iou_head(self._num_mask_stages() - 1)
        key = f'loss_mask_iou_{name}'
        keys = [key]
        if getattr(iou_head, 'rank_loss', None) is not None:
            keys.append(f'{key}_rank')
        score_ranked = scores is not None and getattr(
            iou_head, 'score_rank_loss', None) is not None
        if score_ranked:
            keys.append(f'{key}_score_rank')
        rois = bbox2roi(boxes)
        with torch.no_grad():
            mask_results = self._mask_forward(x, rois) if len(rois) else {}
        if not len(rois):  # keep every head parameter in the graph
            zero = sum(p.sum() for p in iou_head.parameters()) * 0
            return {k: zero for k in keys}
        flat_labels = torch.cat(labels).long()
        mask_preds = mask_results['mask_preds']
        probs = select_class_masks(mask_preds, flat_labels).sigmoid()
        targets = iou_head.detection_targets(
            probs, boxes, labels, batch_gt_instances,
            self.test_cfg.get('mask_thr_binary', 0.5))
        iou_preds = self._run_mask_iou_head(
            iou_head, x,
            self._mask_iou_feats(x, rois, mask_results['mask_feats']),
            self._mask_iou_input(iou_head, mask_preds, flat_labels, False),
            rois)
        rows = torch.arange(flat_labels.numel(), device=flat_labels.device)
        preds = iou_preds[rows, flat_labels]
        losses = {key: iou_head.regression_loss(preds, targets) * weight}
        if f'{key}_rank' in keys:
            losses[f'{key}_rank'] = iou_head.image_class_ranking_loss(
                preds, targets, flat_labels,
                image_indices([len(b) for b in boxes],
                              flat_labels.device)) * weight
        if score_ranked:
            losses[f'{key}_score_rank'] = iou_head.score_ranking_loss(
                preds, targets, torch.cat(scores), flat_labels) * weight
        return losses

    # ------------------------------------------------------------------
    # inference
    def predict_mask_iou(self, x: Tuple[Tensor], mask_rois: Tensor,
                         mask_feats: Tensor, mask_preds: Tensor,
                         results_list: List, is_prob: bool) -> List:
        """Score the final masks of a batch with the last MaskIoU head.

        Call it before the host pastes the masks (``predict_by_feat``),
        with the RoIs the masks were predicted on.

        Args:
            x (tuple[Tensor]): Multi-level image features.
            mask_rois (Tensor): The detections as RoIs, (N, 5), N over the
                batch.
            mask_feats (Tensor): The last mask head's input, (N, C, S, S).
            mask_preds (Tensor): The final masks of every class, logits or
                probabilities, (N, K, M, M).
            results_list (list[InstanceData]): Per image, with ``scores``
                and ``labels``; N_i detections, summing to N.
            is_prob (bool): ``mask_preds`` holds probabilities (merged
                cascade masks) rather than logits.

        Returns:
            list[InstanceData]: ``results_list`` with ``mask_ious`` (the
            chosen class's prediction clamped to [0, 1]) and
            ``mask_scores`` (``scores * mask_ious``).
        """
        labels = torch.cat([res.labels for res in results_list]).long()
        num_dets = [len(res) for res in results_list]
        class_probs = select_class_masks(mask_preds, labels).detach()
        if not is_prob:
            class_probs = class_probs.sigmoid()
        thr = self.test_cfg.get('mask_thr_binary', 0.5)
        for res, maskness in zip(results_list, mask_maskness(
                class_probs, thr).split(num_dets)):
            res.maskness = maskness.to(res.scores.dtype)
        if not self.with_mask_iou:  # the zero-cost estimate
            for res in results_list:
                attach_mask_scores(res, res.maskness,
                                   self.mask_score_as_score,
                                   self.mask_score_power)
            return results_list
        iou_head = self.stage_mask_iou_head(self._num_mask_stages() - 1)
        roi_feats = self._mask_iou_feats(x, mask_rois, mask_feats)
        iou_preds = self._run_mask_iou_head(
            iou_head, x, roi_feats,
            self._mask_iou_input(iou_head, mask_preds, labels, is_prob),
            mask_rois)
        return iou_head.predict_mask_ious(iou_preds.split(num_dets),
                                          results_list,
                                          self.mask_score_as_score,
                                          self.mask_score_power)

    def predict(self, *args, **kwargs) -> List:
        """The host's ``predict``, then :meth:`decay_overlapping_masks`.

        Returns:
            list[InstanceData]: The host's results, with ``mask_scores``
            decayed where ``mask_overlap_decay`` is set.
        """
        results_list = super().predict(*args, **kwargs)
        if self.mask_overlap_decay:
            self.decay_overlapping_masks(results_list)
        return results_list

    def decay_overlapping_masks(self, results_list: List) -> List:
        """Lower each mask score by its overlap with better masks.

        Args:
            results_list (list[InstanceData]): Per image, with pasted
                ``masks`` (N, H, W), ``mask_scores``, ``labels``.

        Returns:
            list[InstanceData]: The same, ``mask_scores`` multiplied by
            :func:`~mmdet_msrcnn.models.utils.mask_overlap_decay` (and
            ``scores`` with ``mask_score_as_score``), changed in place.
        """
        thr = self.test_cfg.get('mask_thr_binary', 0.5)
        return decay_mask_scores(
            results_list,
            self.mask_overlap_decay,
            mask_thr=thr if thr >= 0 else 0.5,  # soft masks: thr < 0
            write_scores=self.mask_score_as_score,
            kernel=self.mask_overlap_decay_kernel)

    @staticmethod
    def empty_mask_scores(results_list: List) -> List:
        """``mask_ious`` / ``mask_scores`` of a batch without detections."""
        for res in results_list:
            res.mask_ious = res.scores.new_zeros(len(res))
            res.mask_scores = res.scores.new_zeros(len(res))
            res.maskness = res.scores.new_zeros(len(res))
        return results_list

    def mask_iou_forward_tensor(self, x: Tuple[Tensor], mask_rois: Tensor,
                                mask_feats: Tensor, mask_preds: Tensor,
                                cls_score: Tensor,
                                is_prob: bool = False) -> Tensor:
        """The MaskIoU head's output in tensor mode (``mode='tensor'``).

        Each RoI is scored for the class its classification score ranks
        first (the background column excluded), as at inference.

        Args:
            x (tuple[Tensor]): Multi-level image features.
            mask_rois (Tensor): (N, 5).
            mask_feats (Tensor): The last mask head's input, (N, C, S, S).
            mask_preds (Tensor): (N, K, M, M), logits or probabilities.
            cls_score (Tensor): Classification logits, (N, K + 1).
            is_prob (bool): ``mask_preds`` holds probabilities.

        Returns:
            Tensor: MaskIoU predictions of every class, (N, K).
        """
        iou_head = self.stage_mask_iou_head(self._num_mask_stages() - 1)
        labels = cls_score[:, :self._bbox_num_classes()].argmax(dim=1)
        return self._run_mask_iou_head(
            iou_head, x, self._mask_iou_feats(x, mask_rois, mask_feats),
            self._mask_iou_input(iou_head, mask_preds, labels, is_prob),
            mask_rois)
