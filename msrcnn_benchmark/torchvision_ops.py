"""Run mmcv's NMS and RoIAlign on CUDA tensors with torchvision's kernels.

For a CUDA benchmark on a machine whose mmcv was built with its CPU ops
only (mmcv 2.1.0 has no wheel for recent torch/CUDA, and a full CUDA build
takes long): :func:`patch_mmcv_ops` wraps the compiled module that
``mmcv.ops.nms`` and ``mmcv.ops.roi_align`` call, sending CUDA tensors to
``torchvision.ops`` and everything else to mmcv's own kernels. Soft-NMS
stays mmcv's: it runs on the CPU in every mmcv build.

The three benchmarked detectors call the same ops, so the patch changes
their shared parts alike; the report says when it was used
(:func:`choose_cuda_ops`).
"""
import torch


class _CudaViaTorchvision:
    """mmcv's ``_ext`` module, with ``nms`` / ``roi_align_*`` for CUDA."""

    def __init__(self, ext):
        self._ext = ext

    def __getattr__(self, name):
        return getattr(self._ext, name)

    def nms(self, bboxes, scores, iou_threshold, offset=0):
        if not bboxes.is_cuda:
            return self._ext.nms(
                bboxes, scores, iou_threshold=iou_threshold, offset=offset)
        if offset != 0:
            raise NotImplementedError(
                'torchvision NMS has no offset; use offset=0 boxes.')
        return torch.ops.torchvision.nms(bboxes, scores, iou_threshold)

    def roi_align_forward(self, input, rois, output, argmax_y, argmax_x,
                          aligned_height, aligned_width, spatial_scale,
                          sampling_ratio, pool_mode, aligned):
        if not input.is_cuda:
            return self._ext.roi_align_forward(
                input,
                rois,
                output,
                argmax_y,
                argmax_x,
                aligned_height=aligned_height,
                aligned_width=aligned_width,
                spatial_scale=spatial_scale,
                sampling_ratio=sampling_ratio,
                pool_mode=pool_mode,
                aligned=aligned)
        if pool_mode != 1:
            raise NotImplementedError('torchvision RoIAlign averages only.')
        output.copy_(
            torch.ops.torchvision.roi_align(input, rois, spatial_scale,
                                            aligned_height, aligned_width,
                                            sampling_ratio, aligned))

    def roi_align_backward(self, grad_output, rois, argmax_y, argmax_x,
                           grad_input, aligned_height, aligned_width,
                           spatial_scale, sampling_ratio, pool_mode, aligned):
        if not grad_output.is_cuda:
            return self._ext.roi_align_backward(
                grad_output,
                rois,
                argmax_y,
                argmax_x,
                grad_input,
                aligned_height=aligned_height,
                aligned_width=aligned_width,
                spatial_scale=spatial_scale,
                sampling_ratio=sampling_ratio,
                pool_mode=pool_mode,
                aligned=aligned)
        grad_input.copy_(
            torch.ops.torchvision._roi_align_backward(
                grad_output, rois, spatial_scale, aligned_height,
                aligned_width, *grad_input.shape, sampling_ratio, aligned))


def mmcv_has_cuda_ops() -> bool:
    """Whether mmcv's NMS runs on a CUDA tensor."""
    from mmcv.ops import nms
    boxes = torch.tensor([[0., 0., 1., 1.]], device='cuda')
    try:
        nms(boxes, boxes.new_ones(1), 0.5)
    except RuntimeError:
        return False
    return True


def choose_cuda_ops() -> str:
    """mmcv's CUDA kernels, or torchvision's where mmcv has none.

    Returns:
        str: Which kernels NMS and RoIAlign run on CUDA tensors.
    """
    if mmcv_has_cuda_ops():
        return 'mmcv'
    patch_mmcv_ops()
    return 'torchvision (mmcv built without CUDA ops)'


def patch_mmcv_ops() -> None:
    """Route mmcv's NMS and RoIAlign on CUDA tensors to torchvision."""
    import torchvision  # noqa: F401 (registers torch.ops.torchvision)
    from mmcv.ops import nms as nms_mod
    from mmcv.ops import roi_align as roi_align_mod
    for mod in (nms_mod, roi_align_mod):
        if not isinstance(mod.ext_module, _CudaViaTorchvision):
            mod.ext_module = _CudaViaTorchvision(mod.ext_module)
