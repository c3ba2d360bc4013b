"""What mmdeploy 1.3.1 needs from torch 2.13's ONNX exporter.

mmdeploy 1.3.1 (December 2023) was written against torch <= 2.1; on
torch 2.13 two things fail, found by exporting mmdet's plain Mask R-CNN
demo model with ``mmdeploy.apis.torch2onnx``:

1. ``torch.onnx.export`` now defaults to the dynamo exporter
   (``dynamo=True``), which needs ``onnxscript`` and never calls the
   TorchScript symbolic functions that mmdeploy's rewriters register
   (``ModuleNotFoundError: No module named 'onnxscript'``). mmdeploy calls
   it without ``dynamo``; :func:`torch_onnx_export__torchscript` passes
   ``dynamo=False``.
2. mmdeploy's default symbolic of mmcv's RoIAlign imports the private
   helper ``torch.onnx.symbolic_opset9._cast_Long``, which torch removed
   (``ImportError: cannot import name '_cast_Long'``).
   :func:`roi_align__onnxruntime` is a symbolic of our own for ONNX
   Runtime, registered with mmdeploy for that backend (mmdeploy prefers a
   backend's own symbolic over its default one); it builds the ONNX
   ``RoiAlign`` from public graph ops only.

Both are registered with mmdeploy's own rewriter registries and are active
only inside mmdeploy's export context (``RewriterContext``), so
``torch.onnx.export`` outside mmdeploy is untouched; no torch module is
changed.
"""
import inspect
from typing import List

import torch
from mmdeploy.core import FUNCTION_REWRITER, SYMBOLIC_REWRITER
from mmdeploy.utils import get_ir_config

#: ``onnx.TensorProto.INT64``.
_ONNX_INT64 = 7
#: The first opset whose ``RoiAlign`` has ``coordinate_transformation_mode``
#: (mmcv's ``aligned=True`` is its ``half_pixel``).
ROI_ALIGN_MIN_OPSET = 16


@FUNCTION_REWRITER.register_rewriter(func_name='torch.onnx.export')
def torch_onnx_export__torchscript(*args, **kwargs):
    """``torch.onnx.export`` with the TorchScript exporter (mmdeploy's)."""
    ctx = FUNCTION_REWRITER.get_context()
    if 'dynamo' in inspect.signature(ctx.origin_func).parameters:
        kwargs.setdefault('dynamo', False)
    return ctx.origin_func(*args, **kwargs)


def _columns(g, rois, columns: List[int]):
    """``rois[:, columns]`` as an ONNX ``Gather`` on axis 1."""
    index = g.op('Constant', value_t=torch.tensor(columns, dtype=torch.long))
    return g.op('Gather', rois, index, axis_i=1)


@SYMBOLIC_REWRITER.register_symbolic(
    'mmcv.ops.roi_align.__self__', backend='onnxruntime')
def roi_align__onnxruntime(g, input, rois, output_size: List[int],
                           spatial_scale: float, sampling_ratio: int,
                           pool_mode: str, aligned: bool):
    """mmcv's ``RoIAlign`` as the ONNX ``RoiAlign`` operator (opset >= 16).

    Args:
        g (torch._C.Graph): The graph being built.
        input (torch._C.Value): Features, (N, C, H, W).
        rois (torch._C.Value): (R, 5), batch index then x1, y1, x2, y2.
        output_size (list[int]): Output height and width.
        spatial_scale (float): Feature scale over the image.
        sampling_ratio (int): Samples per bin side, 0 adaptive (the same
            meaning in mmcv and ONNX).
        pool_mode (str): ``'avg'`` or ``'max'``.
        aligned (bool): mmcv's half-pixel shift (ONNX ``half_pixel``).

    Returns:
        torch._C.Value: (R, C, output_size[0], output_size[1]).
    """
    ctx = SYMBOLIC_REWRITER.get_context()
    opset = get_ir_config(ctx.cfg).get('opset_version', 11)
    if opset < ROI_ALIGN_MIN_OPSET:
        raise NotImplementedError(
            f'mmdet_msrcnn.deployment exports RoIAlign for ONNX Runtime with '
            f'opset_version >= {ROI_ALIGN_MIN_OPSET} (the deploy config has '
            f'{opset}); set onnx_config.opset_version={ROI_ALIGN_MIN_OPSET} '
            'as configs/deploy/ does.')
    squeeze_axes = g.op('Constant', value_t=torch.tensor([1]))
    batch_indices = g.op(
        'Cast',
        g.op('Squeeze', _columns(g, rois, [0]), squeeze_axes),
        to_i=_ONNX_INT64)
    return g.op(
        'RoiAlign',
        input,
        _columns(g, rois, [1, 2, 3, 4]),
        batch_indices,
        output_height_i=output_size[0],
        output_width_i=output_size[1],
        spatial_scale_f=spatial_scale,
        sampling_ratio_i=sampling_ratio,
        mode_s=pool_mode,
        coordinate_transformation_mode_s='half_pixel'
        if aligned else 'output_half_pixel')
