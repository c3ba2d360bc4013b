"""Export a mask scoring detector to ONNX with mmdeploy's exporter."""
import os.path as osp
from typing import Optional, Tuple, Union

import numpy as np
from mmengine.config import Config
from torch import Tensor, nn

#: Outputs of the exported graph, in order.
OUTPUT_NAMES = ('dets', 'labels', 'masks', 'mask_ious')


def load_configs(deploy_cfg: Union[str, Config],
                 model_cfg: Union[str, Config]) -> Tuple[Config, Config]:
    """Load both configs, checking the deploy config's output names.

    Args:
        deploy_cfg (str | Config): An mmdeploy deploy config, e.g.
            ``configs/deploy/instance-seg-scoring_onnxruntime_static-128x128
            .py``.
        model_cfg (str | Config): The detector's config.

    Returns:
        tuple[Config, Config]: The deploy and model configs.
    """
    from mmdeploy.utils import load_config
    deploy_cfg, model_cfg = load_config(deploy_cfg, model_cfg)
    names = tuple(deploy_cfg.onnx_config.get('output_names', ()))
    if names != OUTPUT_NAMES:
        raise ValueError(
            f'deploy config output_names={list(names)}; the mask scoring '
            f'export has four outputs, {list(OUTPUT_NAMES)}.')
    return deploy_cfg, model_cfg


def make_input(model_cfg: Config, deploy_cfg: Config,
               img: Union[str, np.ndarray],
               data_preprocessor: Optional[nn.Module] = None
               ) -> Tuple[dict, Tensor]:
    """The model input of one image, as mmdeploy prepares it.

    The model config's test pipeline (for a static input shape with the
    ``Resize`` to exactly that shape) and the data preprocessor.

    Args:
        model_cfg (Config): The detector's config.
        deploy_cfg (Config): The deploy config.
        img (str | np.ndarray): An image file or a BGR array.
        data_preprocessor (nn.Module, optional): The model's; built from
            the model config when not given.

    Returns:
        tuple[dict, Tensor]: The preprocessed data (``inputs``,
        ``data_samples``) and the input tensor (1, 3, H, W).
    """
    from mmdeploy.apis import build_task_processor
    from mmdeploy.utils import get_input_shape
    from mmdet.registry import MODELS
    if data_preprocessor is None:
        data_preprocessor = MODELS.build(model_cfg.model.data_preprocessor)
    processor = build_task_processor(model_cfg, deploy_cfg, 'cpu')
    data, inputs = processor.create_input(
        img, get_input_shape(deploy_cfg), data_preprocessor=data_preprocessor)
    return data, inputs


def check_exportable(model: nn.Module) -> None:
    """Refuse a model whose test-time scoring the exported graph would drop.

    Raises:
        ValueError: ``mask_overlap_decay`` is set in the RoI head or the
            detection scorer (it works on the pasted masks, which the
            backend's post-processing makes).
    """
    for name in ('roi_head', 'mask_scorer'):
        part = getattr(model, name, None)
        mode = getattr(part, 'mask_overlap_decay', None)
        if mode:
            raise ValueError(
                f'{type(part).__name__}: mask_overlap_decay={mode!r} lowers '
                'the mask scores by the overlap of the pasted masks, which '
                'the exported graph does not hold; export with '
                f'model.{name}.mask_overlap_decay=False (and apply '
                'mmdet_msrcnn.models.utils.decay_mask_scores to the '
                'backend outputs if you need it).')


def export_model(model: nn.Module, model_cfg: Union[str, Config],
                 deploy_cfg: Union[str, Config],
                 img: Union[str, np.ndarray, dict], output_file: str) -> str:
    """Export a built detector (its current weights) to ONNX.

    What ``mmdeploy.apis.torch2onnx`` does with a checkpoint, for a model
    in memory: trace ``model`` on ``img`` inside mmdeploy's rewriter
    context (mmdeploy's rewriters and ours, :mod:`.rewriters`).

    Args:
        model (nn.Module): The detector, on CPU.
        model_cfg (str | Config): Its config (test pipeline, test cfg).
        deploy_cfg (str | Config): The deploy config.
        img (str | np.ndarray | dict): The image traced through the model,
            or its preprocessed data (``inputs`` (1, 3, H, W),
            ``data_samples``).
        output_file (str): Where the ``.onnx`` file goes.

    Returns:
        str: ``output_file``.
    """
    from mmdeploy.apis.core.pipeline_manager import no_mp
    from mmdeploy.apis.onnx import export
    from mmdeploy.codebase import import_codebase
    from mmdeploy.utils import (get_backend, get_codebase, get_dynamic_axes,
                                get_onnx_config)

    from . import rewriters  # noqa: F401  (registers ours)
    deploy_cfg, model_cfg = load_configs(deploy_cfg, model_cfg)
    check_exportable(model)
    # mmdeploy's mmdet rewriters register when its codebase is imported
    import_codebase(get_codebase(deploy_cfg))
    model = model.cpu().eval()
    if isinstance(img, dict):
        data, inputs = img, img['inputs']
    else:
        data, inputs = make_input(model_cfg, deploy_cfg, img,
                                  model.data_preprocessor)
    onnx_cfg = get_onnx_config(deploy_cfg)
    names = list(onnx_cfg['input_names']) + list(onnx_cfg['output_names'])
    if not output_file.endswith('.onnx'):
        raise ValueError(f'output_file={output_file!r}: end it in .onnx')
    with no_mp():
        export(
            model,
            inputs,
            input_metas=dict(
                data_samples=data['data_samples'], mode='predict'),
            output_path_prefix=osp.splitext(output_file)[0],
            backend=get_backend(deploy_cfg).value,
            input_names=onnx_cfg['input_names'],
            output_names=onnx_cfg['output_names'],
            context_info=dict(deploy_cfg=deploy_cfg),
            opset_version=onnx_cfg.get('opset_version', 16),
            dynamic_axes=get_dynamic_axes(deploy_cfg, names),
            verbose=False,
            keep_initializers_as_inputs=onnx_cfg.get(
                'keep_initializers_as_inputs', False),
            optimize=onnx_cfg.get('optimize', False))
    return output_file


def export_checkpoint(model_cfg: Union[str, Config], checkpoint: str,
                      deploy_cfg: Union[str, Config],
                      img: Union[str, np.ndarray], output_file: str) -> str:
    """Export a detector from its config and checkpoint.

    Args:
        model_cfg (str | Config): The detector's config.
        checkpoint (str): Its checkpoint; ``None`` keeps the initial
            (random) weights.
        deploy_cfg (str | Config): The deploy config.
        img (str | np.ndarray): The image traced through the model.
        output_file (str): Where the ``.onnx`` file goes.

    Returns:
        str: ``output_file``.
    """
    from mmdeploy.apis import build_task_processor
    deploy_cfg, model_cfg = load_configs(deploy_cfg, model_cfg)
    processor = build_task_processor(model_cfg, deploy_cfg, 'cpu')
    model = processor.build_pytorch_model(checkpoint)
    return export_model(model, model_cfg, deploy_cfg, img, output_file)
