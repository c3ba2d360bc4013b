"""Hard NMS that exports to ``onnx::NonMaxSuppression``, as mmdet runs it.

mmdet's test-time NMS is :func:`mmcv.ops.batched_nms`: the boxes of each
group (class, or FPN level in the RPN) are shifted apart by
``group * (max_coordinate + 1)`` so one class-agnostic NMS keeps the
groups separate. :func:`batched_nms_indices` does the same in a traceable
way: the boxes that mmdet filters out before NMS (low score, empty box)
get a score below the NMS score threshold instead, so the graph keeps
static shapes up to the NMS and ONNX Runtime's ``NonMaxSuppression`` sees
the same candidates, the same shifted coordinates and the same IoU
threshold as mmcv's ``nms``.
"""
import torch
from torch import Tensor

#: Score given to the candidates that mmdet drops before NMS; the NMS
#: score threshold lies between it and every real score (>= 0).
DROPPED_SCORE = -1.0
_NMS_SCORE_THR = -0.5


class _NonMaxSuppression(torch.autograd.Function):
    """Single-group hard NMS: mmcv's kernel in PyTorch, ONNX's in the graph.

    ``forward`` keeps the boxes scoring above ``score_thr``, runs mmcv's
    ``nms`` on them (IoU with ``offset=0``, a box is suppressed when its
    IoU with a kept box is above ``iou_thr``) and returns at most
    ``max_num`` indices into the input, by decreasing score.
    ``symbolic`` emits ``NonMaxSuppression`` (opset >= 13 form), which
    returns the same indices in the same order.
    """

    @staticmethod
    def forward(ctx, boxes: Tensor, scores: Tensor, max_num: int,
                iou_thr: float, score_thr: float) -> Tensor:
        from mmcv.ops import nms
        candidates = (scores > score_thr).nonzero(as_tuple=False).view(-1)
        if candidates.numel() == 0:
            return candidates
        _, keep = nms(boxes[candidates], scores[candidates], iou_thr)
        return candidates[keep[:max_num]]

    @staticmethod
    def symbolic(g, boxes, scores, max_num, iou_thr, score_thr):
        axis0 = g.op('Constant', value_t=torch.tensor([0]))
        batch_boxes = g.op('Unsqueeze', boxes, axis0)  # (1, N, 4)
        batch_scores = g.op(  # (1, 1, N)
            'Unsqueeze', g.op('Unsqueeze', scores, axis0), axis0)
        selected = g.op(
            'NonMaxSuppression', batch_boxes, batch_scores,
            g.op('Constant', value_t=torch.tensor([max_num])),
            g.op('Constant', value_t=torch.tensor([iou_thr])),
            g.op('Constant', value_t=torch.tensor([score_thr])))
        # rows of (batch, class, box): the box column
        return g.op(
            'Gather', selected, g.op('Constant', value_t=torch.tensor(2)),
            axis_i=1)


def batched_nms_indices(boxes: Tensor, scores: Tensor, groups: Tensor,
                        valid: Tensor, iou_thr: float,
                        max_num: int) -> Tensor:
    """mmcv's ``batched_nms`` over the ``valid`` candidates, traceable.

    Args:
        boxes (Tensor): (N, 4), x1 y1 x2 y2, not negative (clipped).
        scores (Tensor): (N,).
        groups (Tensor): (N,) integer group of each box (class or level);
            boxes of different groups never suppress each other.
        valid (Tensor): (N,) bool, the candidates mmdet keeps before NMS.
        iou_thr (float): IoU above which a box is suppressed.
        max_num (int): At most this many indices are returned.

    Returns:
        Tensor: Indices into the inputs of the kept boxes, by decreasing
        score, as ``batched_nms`` returns them.
    """
    # mmcv shifts by the largest coordinate of the boxes it is given
    max_coordinate = torch.where(valid[:, None], boxes,
                                 boxes.new_zeros(())).max()
    offsets = groups.to(boxes) * (max_coordinate + 1)
    nms_scores = torch.where(valid, scores,
                             scores.new_full((), DROPPED_SCORE))
    return _NonMaxSuppression.apply(boxes + offsets[:, None], nms_scores,
                                    int(max_num), float(iou_thr),
                                    _NMS_SCORE_THR)
