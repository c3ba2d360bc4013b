"""The mask scoring that every scored single-stage / query detector shares.

A mask scoring detector is an mmdet detector with
:class:`MaskScoringDetectorMixin` in front and explicit overrides of the
host's ``loss``, ``predict`` and tensor-mode ``_forward``, each calling the
:class:`~mmdet_msrcnn.models.mask_heads.DetectionMaskScorer` by name::

    @MODELS.register_module()
    class MaskScoringRTMDet(MaskScoringDetectorMixin, RTMDet):

        def loss(self, batch_inputs, batch_data_samples):
            x = self.extract_feat(batch_inputs)
            losses = self.bbox_head.loss(x, batch_data_samples)  # the host's
            dets = self.scorer_detections(x, batch_data_samples)
            losses.update(self.mask_scorer.loss(x, dets, batch_data_samples))
            return losses

        def predict(self, batch_inputs, batch_data_samples, rescale=True):
            x = self.extract_feat(batch_inputs)
            results_list = self.bbox_head.predict(...)  # the host's
            self.mask_scorer.predict(x, results_list, metas, rescaled=rescale)
            ...

The contract, checked once when the detector is built
(:meth:`MaskScoringDetectorMixin._check_host_overrides`): the class that
supplies each of :data:`SCORED_DETECTOR_METHODS` must be a mask scoring
class; a host whose methods would run unscored is refused with its name.
Nothing is hooked or patched.

What a host provides: its features (``extract_feat``), its final
detections with full-image masks (its own test path), the frame those are
in, and ``scorer_detections``: the same test path at the network-input
scale (``rescale=False``) on a training batch, without gradient and with
the host's heads in eval mode, so the scorer trains on exactly what it
scores at test time and the host's own training is untouched (no gradient
from the scorer with ``detach_feats=True``, no extra batch-norm update).
"""
import contextlib
from typing import Iterator, List, Optional, Sequence

import torch
from mmdet.structures import DetDataSample
from torch import Tensor, nn

from mmdet_msrcnn.registry import MODELS

#: The host methods a mask scoring detector must override.
SCORED_DETECTOR_METHODS = ('loss', 'predict', '_forward')


@contextlib.contextmanager
def eval_mode(*modules: nn.Module) -> Iterator[None]:
    """Run a block with some modules in eval mode, then restore each flag.

    Args:
        *modules (nn.Module): The modules (with their children) to switch.
    """
    flags = [(m, m.training) for module in modules for m in module.modules()]
    for module in modules:
        module.eval()
    try:
        yield
    finally:
        for m, flag in flags:
            m.training = flag


def tensor_mode_samples(
        batch_inputs: Tensor,
        batch_data_samples: Optional[Sequence] = None) -> List[DetDataSample]:
    """The data samples of a tensor-mode call, made up when there are none.

    mmdet's ``get_flops`` passes the data samples; an exporter may pass
    none. Then every image is taken as unscaled and unpadded: its shapes
    are the input's.

    Args:
        batch_inputs (Tensor): (B, 3, H, W).
        batch_data_samples (list[DetDataSample], optional): The samples.

    Returns:
        list[DetDataSample]: ``batch_data_samples`` or B made-up samples.
    """
    if batch_data_samples is not None:
        return list(batch_data_samples)
    shape = tuple(batch_inputs.shape[-2:])
    meta = dict(
        img_shape=shape,
        ori_shape=shape,
        pad_shape=shape,
        batch_input_shape=shape,
        scale_factor=(1.0, 1.0))
    return [DetDataSample(metainfo=meta) for _ in range(len(batch_inputs))]


def input_scale_metas(batch_data_samples: Sequence) -> List[dict]:
    """Image metas whose "original" image is the network input.

    For hosts that always paste their masks at ``ori_shape`` (SOLOv2):
    with these metas their test path returns the masks at the
    network-input scale, where the features and the training ground truth
    are.

    Args:
        batch_data_samples (list[DetDataSample]): The samples.

    Returns:
        list[dict]: Copies of the metas with ``ori_shape = img_shape`` and
        ``scale_factor = (1, 1)``.
    """
    metas = []
    for sample in batch_data_samples:
        meta = dict(sample.metainfo)
        meta['ori_shape'] = tuple(meta['img_shape'][:2])
        meta['scale_factor'] = (1.0, 1.0)
        metas.append(meta)
    return metas


class MaskScoringDetectorMixin:
    """Add a :class:`DetectionMaskScorer` to an mmdet instance segmentor.

    Args:
        mask_scorer (dict): Config of the scorer
            (``type='mmdet_msrcnn.DetectionMaskScorer'``); its MaskIoU
            head's ``num_classes`` must be the host's (thing) classes.

    Results keep every field the host writes, ``scores`` bit for bit, and
    gain ``mask_ious`` (the predicted MaskIoU of the label, clamped to
    [0, 1]) and ``mask_scores`` (``scores * mask_ious``). The training loss
    gains ``loss_mask_iou``. State dicts are the host's plus
    ``mask_scorer.*``.
    """

    #: Where the scorer reads each detection's box (see
    #: :data:`~mmdet_msrcnn.models.mask_heads.BOX_SOURCES`).
    scorer_box_source = 'host'

    def __init__(self,
                 *args,
                 mask_scorer: Optional[dict] = None,
                 **kwargs) -> None:
        self._check_host_overrides()
        if mask_scorer is None:
            raise ValueError(
                f'{type(self).__name__} needs a `mask_scorer` config, e.g. '
                "dict(type='mmdet_msrcnn.DetectionMaskScorer', "
                'featmap_strides=[8, 16, 32], in_channels=256, '
                "mask_iou_head=dict(type='mmdet_msrcnn.MaskIoUHead', "
                'num_classes=80)).')
        super().__init__(*args, **kwargs)
        self._check_host()
        # built on a forked random state: the host's modules draw the same
        # initial weights as the plain host's under the same seed (the
        # scorer is initialised after them), so a scored run and its
        # host-only twin start from the same detector
        with torch.random.fork_rng(devices=[]):
            self.mask_scorer = MODELS.build(mask_scorer)
        self._check_mask_scorer()

    # ------------------------------------------------------------------
    # build-time checks
    def _check_host_overrides(self) -> None:
        """Refuse a host whose methods would run without scoring.

        The class that supplies each of :data:`SCORED_DETECTOR_METHODS`
        must be a mask scoring class; otherwise the host's own method runs,
        the scorer is neither trained nor called (or tensor mode leaves it
        out), and nothing says so.
        """
        mro = type(self).__mro__
        for name in SCORED_DETECTOR_METHODS:
            owner = next((cls for cls in mro if name in vars(cls)), None)
            if owner is None or not issubclass(owner,
                                               MaskScoringDetectorMixin):
                host = getattr(owner, '__name__', '?')
                raise TypeError(
                    f'{type(self).__name__}: mask scoring does not support '
                    f'the host detector {host}: its `{name}` is not '
                    'overridden by a mask scoring class, so the mask scorer '
                    'would be neither trained nor used. Supported hosts: '
                    'RTMDet-Ins (mmdet_msrcnn.MaskScoringRTMDet), SOLOv2 '
                    '(MaskScoringSOLOv2), CondInst (MaskScoringCondInst), '
                    'Mask2Former (MaskScoringMask2Former). For another '
                    'host, override `loss`, `predict` and `_forward` and '
                    'call `mask_scorer.loss` / `.predict` / `.score` '
                    '(docs/mask_scoring_recipe.md).')

    def _check_host(self) -> None:
        """Refuse a host configuration the scoring does not cover."""

    def _host_num_classes(self) -> int:
        """Number of (thing) classes of the host's detections."""
        raise NotImplementedError

    def _check_mask_scorer(self) -> None:
        """The scorer is ours and has one output per host class."""
        from ..mask_heads.detection_mask_scorer import DetectionMaskScorer
        if not isinstance(self.mask_scorer, DetectionMaskScorer):
            raise TypeError(f'{type(self).__name__}: mask_scorer builds '
                            f'{type(self.mask_scorer).__name__}; use '
                            "type='mmdet_msrcnn.DetectionMaskScorer'.")
        num_classes = self._host_num_classes()
        if self.mask_scorer.num_classes != num_classes:
            raise ValueError(
                f'mask_scorer.mask_iou_head.num_classes='
                f'{self.mask_scorer.num_classes} differs from the host\'s '
                f'{num_classes} classes; set them equal (one MaskIoU output '
                'per class).')

    # ------------------------------------------------------------------
    # what each host supplies
    def scorer_detections(self, x, batch_data_samples) -> List:
        """The host's final detections of a training batch, for the loss.

        The host's test path at the network-input scale, without gradient
        and with the host's heads in eval mode (:func:`eval_mode`).

        Args:
            x (tuple[Tensor]): The host's features of the batch.
            batch_data_samples (list[DetDataSample]): The batch.

        Returns:
            list[InstanceData]: Per image, with ``labels``, ``masks``
            covering ``img_shape`` and ``bboxes``.
        """
        raise NotImplementedError(
            f'{type(self).__name__} must define `scorer_detections`.')
