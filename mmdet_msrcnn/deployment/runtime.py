"""Run an exported mask scoring detector in ONNX Runtime.

:class:`ORTMaskScoringDetector` runs the graph written by
:func:`~mmdet_msrcnn.deployment.export.export_model` and turns its four
outputs into mmdet's result, as the PyTorch model's ``predict`` gives it:
``bboxes`` (in the original image), ``scores``, ``labels``, ``masks``
(pasted and binarised as mmdet's ``FCNMaskHead`` does on CPU),
``mask_ious``, ``mask_scores`` and ``maskness``.
"""
from typing import Dict, Optional, Sequence, Union

import numpy as np
import torch
from mmengine.config import Config
from mmengine.structures import InstanceData
from torch import Tensor

from mmdet_msrcnn.models.mask_heads.mask_iou_head import attach_mask_scores
from mmdet_msrcnn.models.utils.maskness import mask_maskness
from .export import OUTPUT_NAMES, load_configs, make_input


def paste_masks(roi_masks: Tensor, bboxes: Tensor, img_shape: Sequence[int],
                thr: float) -> Tensor:
    """Paste RoI mask probabilities into the image, as mmdet does on CPU.

    Args:
        roi_masks (Tensor): (N, M, M) probabilities.
        bboxes (Tensor): (N, 4) boxes in the target image.
        img_shape (tuple[int]): (H, W) of the target image.
        thr (float): Binarisation threshold (``>= thr``); negative keeps
            ``uint8`` probabilities times 255, as mmdet.

    Returns:
        Tensor: (N, H, W) bool masks (uint8 for ``thr < 0``).
    """
    from mmdet.models.roi_heads.mask_heads.fcn_mask_head import \
        _do_paste_mask
    img_h, img_w = int(img_shape[0]), int(img_shape[1])
    masks = torch.zeros(
        len(roi_masks),
        img_h,
        img_w,
        dtype=torch.bool if thr >= 0 else torch.uint8)
    for i in range(len(roi_masks)):  # one at a time, as mmdet on CPU
        chunk, spatial = _do_paste_mask(
            roi_masks[i:i + 1, None], bboxes[i:i + 1], img_h, img_w,
            skip_empty=True)
        if thr >= 0:
            chunk = chunk >= thr
        else:
            chunk = (chunk * 255).to(torch.uint8)
        masks[(slice(i, i + 1), ) + spatial] = chunk
    return masks


def to_instances(outputs: Dict[str, np.ndarray], img_meta: dict,
                 rcnn_test_cfg: dict, mask_score_as_score: bool = False,
                 rescale: bool = True) -> InstanceData:
    """The graph's outputs of one image as mmdet's prediction.

    Args:
        outputs (dict[str, np.ndarray]): ``dets`` (1, N, 5), ``labels``
            (1, N), ``masks`` (1, N, M, M) RoI masks, ``mask_ious`` (1, N).
        img_meta (dict): The data sample's metainfo (``scale_factor``,
            ``ori_shape``, ``img_shape``).
        rcnn_test_cfg (dict): ``model.test_cfg.rcnn`` (``mask_thr_binary``).
        mask_score_as_score (bool): The RoI head's option: ``scores``
            becomes ``mask_scores``.
        rescale (bool): Boxes and masks in the original image, as
            ``predict(..., rescale=True)``.

    Returns:
        InstanceData: ``bboxes``, ``scores``, ``labels``, ``masks``,
        ``mask_ious``, ``mask_scores``, ``maskness``.
    """
    dets = torch.from_numpy(np.asarray(outputs['dets'][0]))
    roi_masks = torch.from_numpy(np.asarray(outputs['masks'][0]))
    thr = rcnn_test_cfg.get('mask_thr_binary', 0.5)
    results = InstanceData()
    bboxes = dets[:, :4].clone()
    if rescale:
        scale = bboxes.new_tensor(img_meta['scale_factor']).repeat(1, 2)
        bboxes = bboxes / scale
        shape = img_meta['ori_shape'][:2]
    else:
        shape = img_meta['img_shape'][:2]
    results.bboxes = bboxes
    results.scores = dets[:, 4].clone()
    results.labels = torch.from_numpy(np.asarray(
        outputs['labels'][0])).long()
    if roi_masks.dim() == 3 and roi_masks.shape[-2:] != tuple(shape):
        results.masks = paste_masks(roi_masks, bboxes, shape, thr)
        results.maskness = mask_maskness(roi_masks, thr)
    else:  # pasted in the graph (export_postprocess_mask)
        results.masks = roi_masks
    ious = torch.from_numpy(np.asarray(outputs['mask_ious'][0]))
    return attach_mask_scores(results, ious.float(), mask_score_as_score)


class ORTMaskScoringDetector:
    """An exported mask scoring detector in an ONNX Runtime session.

    Args:
        onnx_file (str): The exported graph.
        model_cfg (str | Config): The detector's config (test pipeline,
            data preprocessor, test cfg).
        deploy_cfg (str | Config): The deploy config it was exported with.
        providers (list[str]): ONNX Runtime execution providers.
            Defaults to CPU.
        num_threads (int, optional): Intra-op threads (ONNX Runtime's
            default when ``None``).
        allow_spinning (bool): ONNX Runtime's intra-op threads keep
            spinning after a run (its default, lowest latency for back-to-back
            runs). Switch it off when other work shares the cores between
            runs, e.g. PyTorch in the same process: the spinning threads
            slow it down several times.
    """

    def __init__(self,
                 onnx_file: str,
                 model_cfg: Union[str, Config],
                 deploy_cfg: Union[str, Config],
                 providers: Sequence[str] = ('CPUExecutionProvider', ),
                 num_threads: Optional[int] = None,
                 allow_spinning: bool = True) -> None:
        import onnxruntime as ort
        from mmdet.registry import MODELS
        self.deploy_cfg, self.model_cfg = load_configs(deploy_cfg, model_cfg)
        options = ort.SessionOptions()
        if num_threads is not None:
            options.intra_op_num_threads = num_threads
            options.inter_op_num_threads = 1
        if not allow_spinning:
            options.add_session_config_entry(
                'session.intra_op.allow_spinning', '0')
        self.session = ort.InferenceSession(
            onnx_file, sess_options=options, providers=list(providers))
        self.input_name = self.session.get_inputs()[0].name
        self.data_preprocessor = MODELS.build(
            self.model_cfg.model.data_preprocessor)
        self.rcnn_test_cfg = self.model_cfg.model.test_cfg.rcnn
        self.mask_score_as_score = self.model_cfg.model.roi_head.get(
            'mask_score_as_score', False)

    def preprocess(self, img: Union[str, np.ndarray]) -> dict:
        """The preprocessed data of one image (``inputs``,
        ``data_samples``), as mmdeploy prepares it for export."""
        data, _ = make_input(self.model_cfg, self.deploy_cfg, img,
                             self.data_preprocessor)
        return data

    def forward(self, inputs: Tensor) -> Dict[str, np.ndarray]:
        """The graph's raw outputs for an input tensor (1, 3, H, W)."""
        arrays = self.session.run(
            list(OUTPUT_NAMES),
            {self.input_name: inputs.detach().cpu().numpy()})
        return dict(zip(OUTPUT_NAMES, arrays))

    def predict(self, data: dict, rescale: bool = True) -> list:
        """Predict on preprocessed data (:meth:`preprocess`).

        Returns:
            list[DetDataSample]: The data samples with ``pred_instances``,
            as the PyTorch model's ``predict``.
        """
        inputs = data['inputs']
        if isinstance(inputs, (list, tuple)):
            inputs = torch.stack(list(inputs))
        samples = data['data_samples']
        if inputs.shape[0] != 1 or len(samples) != 1:
            raise ValueError('ORTMaskScoringDetector runs one image a call.')
        outputs = self.forward(inputs)
        samples[0].pred_instances = to_instances(outputs,
                                                 samples[0].metainfo,
                                                 self.rcnn_test_cfg,
                                                 self.mask_score_as_score,
                                                 rescale)
        return samples

    def __call__(self, img: Union[str, np.ndarray]):
        """Detect in one image (a file or a BGR array).

        Returns:
            DetDataSample: With ``pred_instances``.
        """
        return self.predict(self.preprocess(img))[0]
