"""Multiply-adds (the paper's "FLOPs") of the heads and of the model.

Counted two ways: from the shapes of the conv / deconv / linear layers
(forward hooks) and by mmengine's ``get_model_complexity_info``.
"""
import torch
from torch import nn


def macs_by_hooks(module, inputs) -> int:
    """Multiply-adds of the conv / deconv / linear layers, from shapes."""
    total = [0]

    def hook(mod, inp, out):
        if isinstance(mod, nn.ConvTranspose2d):
            k = mod.kernel_size[0] * mod.kernel_size[1]
            total[0] += inp[0].numel() * mod.out_channels // mod.groups * k
        elif isinstance(mod, nn.Conv2d):
            k = mod.kernel_size[0] * mod.kernel_size[1]
            total[0] += out.numel() * mod.in_channels // mod.groups * k
        elif isinstance(mod, nn.Linear):
            total[0] += out.numel() * mod.in_features

    handles = [
        m.register_forward_hook(hook) for m in module.modules()
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear))
    ]
    try:
        with torch.no_grad():
            module(*inputs)
    finally:
        for h in handles:
            h.remove()
    return total[0]


def macs_by_mmengine(module, inputs) -> int:
    """Multiply-adds by mmengine's ``get_model_complexity_info``."""
    from mmengine.analysis import get_model_complexity_info
    with torch.no_grad():
        info = get_model_complexity_info(
            module, inputs=tuple(inputs), show_table=False, show_arch=False)
    return int(info['flops'])


class FlatOutputs(nn.Module):
    """Call ``fn(module, *inputs)`` and flatten the outputs to a tuple.

    Args:
        module (nn.Module): The module to count.
        fn (callable, optional): How to call it; ``module(*inputs)`` by
            default.
    """

    def __init__(self, module, fn=None):
        super().__init__()
        self.module = module
        self.fn = fn

    def forward(self, *inputs):
        out = self.fn(self.module, *inputs) if self.fn else self.module(
            *inputs)
        flat = []

        def visit(o):
            if isinstance(o, torch.Tensor):
                flat.append(o)
            elif isinstance(o, (list, tuple)):
                for item in o:
                    visit(item)

        visit(out)
        return tuple(flat)


def _pair_first(size):
    return size[0] if isinstance(size, (tuple, list)) else size


def _count(parts: dict) -> dict:
    """Both counts of every ``(module, inputs)`` of ``parts``."""
    out = {}
    for key, (mod, inputs) in parts.items():
        mod.eval()
        out[key] = dict(
            hooks=macs_by_hooks(mod, inputs),
            mmengine=macs_by_mmengine(mod, inputs))
    return out


def flops_report(models, args, device, num_proposals, num_dets) -> dict:
    """Per-RoI MACs of the heads and the MaskIoU share of the model.

    Args:
        models (dict[str, nn.Module]): The detectors; ``ours`` is counted.
        args (Namespace): ``size`` of the image.
        device (torch.device): Where the inputs go.
        num_proposals (int): RoIs into the bbox head per image.
        num_dets (int): Detections (mask and MaskIoU head RoIs) per image.

    Returns:
        dict: ``per_roi``, ``image_level`` and ``model`` (per source,
        ``parts``, ``total``, ``share`` and ``over_mask_rcnn`` of the
        MaskIoU head), ``num_proposals``, ``num_dets`` and ``shapes``.
    """
    ours = models['ours']
    rh = ours.roi_head
    iou = rh.mask_iou_head
    mask_ext = rh.mask_roi_extractor
    bbox_ext = rh.bbox_roi_extractor
    c_mask = mask_ext.out_channels
    s_mask = _pair_first(mask_ext.roi_layers[0].output_size)
    c_bbox = bbox_ext.out_channels
    s_bbox = _pair_first(bbox_ext.roi_layers[0].output_size)
    mask_size = iou.mask_size
    feat = torch.randn(1, c_mask, s_mask, s_mask, device=device)
    per_roi = _count(
        dict(
            maskiou_head=(FlatOutputs(iou),
                          (feat,
                           torch.rand(1, mask_size, mask_size,
                                      device=device))),
            mask_head=(FlatOutputs(rh.mask_head), (feat, )),
            bbox_head=(FlatOutputs(rh.bbox_head),
                       (torch.randn(1, c_bbox, s_bbox, s_bbox,
                                    device=device), ))))
    img = torch.randn(1, 3, *args.size, device=device)
    ours.eval()
    with torch.no_grad():
        feats = tuple(ours.extract_feat(img))
    image_level = _count(
        dict(
            backbone_neck=(FlatOutputs(ours, lambda m, x: m.extract_feat(x)),
                           (img, )),
            rpn_head=(FlatOutputs(ours.rpn_head,
                                  lambda m, *x: m(tuple(x))), feats)))
    model = {}
    for src in ('hooks', 'mmengine'):
        parts_total = dict(
            backbone_neck=image_level['backbone_neck'][src],
            rpn_head=image_level['rpn_head'][src],
            bbox_head=per_roi['bbox_head'][src] * num_proposals,
            mask_head=per_roi['mask_head'][src] * num_dets,
            maskiou_head=per_roi['maskiou_head'][src] * num_dets)
        total = sum(parts_total.values())
        mask_rcnn = total - parts_total['maskiou_head']
        model[src] = dict(
            parts=parts_total,
            total=total,
            share=parts_total['maskiou_head'] / total,
            over_mask_rcnn=parts_total['maskiou_head'] / mask_rcnn)
    return dict(
        per_roi=per_roi,
        image_level=image_level,
        model=model,
        num_proposals=num_proposals,
        num_dets=num_dets,
        shapes=dict(
            mask_feat=[c_mask, s_mask, s_mask],
            mask_size=mask_size,
            bbox_feat=[c_bbox, s_bbox, s_bbox],
            image=list(args.size)))
