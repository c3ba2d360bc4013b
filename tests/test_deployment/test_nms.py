"""The exported NMS keeps what mmcv's ``batched_nms`` keeps."""
import io

import numpy as np
import pytest
import torch

REASON = ('needs the deploy extras (mmdeploy, onnx, onnxruntime): '
          'pip install -e .[deploy]')
pytest.importorskip('mmdeploy', reason=REASON)
ort = pytest.importorskip('onnxruntime', reason=REASON)


def random_case(seed, num=300, groups=4):
    """Overlapping clipped boxes, scores, groups and a validity mask."""
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(num, 2, generator=g) * 100
    wh = torch.rand(num, 2, generator=g) * 40
    boxes = torch.cat([xy, xy + wh], dim=1).clamp(0, 120)
    scores = torch.rand(num, generator=g)
    idxs = torch.randint(0, groups, (num, ), generator=g)
    valid = scores > 0.3
    return boxes, scores, idxs, valid


def mmcv_keep(boxes, scores, idxs, valid, iou_thr, max_num):
    """What mmdet does: drop the invalid, ``batched_nms``, the top ones."""
    from mmcv.ops import batched_nms
    inds = valid.nonzero()[:, 0]
    _, keep = batched_nms(boxes[inds], scores[inds], idxs[inds],
                          dict(type='nms', iou_threshold=iou_thr))
    return inds[keep[:max_num]]


class _NMSModule(torch.nn.Module):

    def __init__(self, iou_thr, max_num):
        super().__init__()
        self.iou_thr, self.max_num = iou_thr, max_num

    def forward(self, boxes, scores, idxs, valid):
        from mmdet_msrcnn.deployment.nms import batched_nms_indices
        return batched_nms_indices(boxes, scores, idxs, valid, self.iou_thr,
                                   self.max_num)


@pytest.mark.parametrize('seed', [0, 1, 2])
@pytest.mark.parametrize('iou_thr,max_num', [(0.5, 1000), (0.7, 20)])
def test_batched_nms_indices_matches_mmcv(seed, iou_thr, max_num):
    case = random_case(seed)
    want = mmcv_keep(*case, iou_thr, max_num)
    module = _NMSModule(iou_thr, max_num)
    assert torch.equal(module(*case), want)  # PyTorch
    f = io.BytesIO()
    torch.onnx.export(
        module,
        case,
        f,
        dynamo=False,
        opset_version=16,
        input_names=['boxes', 'scores', 'idxs', 'valid'],
        dynamic_axes=dict(
            boxes={0: 'n'}, scores={0: 'n'}, idxs={0: 'n'}, valid={0: 'n'}))
    session = ort.InferenceSession(
        f.getvalue(), providers=['CPUExecutionProvider'])
    for other in (case, random_case(seed + 10, num=123)):
        got = session.run(
            None, {
                name: t.numpy()
                for name, t in zip(['boxes', 'scores', 'idxs', 'valid'],
                                   other)
            })[0]
        np.testing.assert_array_equal(
            got,
            mmcv_keep(*other, iou_thr, max_num).numpy())  # ONNX Runtime


def test_no_valid_candidate_keeps_nothing():
    boxes, scores, idxs, _ = random_case(0, num=10)
    module = _NMSModule(0.5, 100)
    keep = module(boxes, scores, idxs, torch.zeros(10, dtype=torch.bool))
    assert keep.numel() == 0
