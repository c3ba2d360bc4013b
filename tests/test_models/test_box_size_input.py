"""``MaskIoUHead(box_size_input=True)``: the RoI's size as two input planes.

Hand-computed planes, the layer shapes, the clear error without RoIs, an
output that depends on the box size (and the paper's head that ignores
it), and every caller passing the RoIs: a training step of the MS R-CNN
RoI head (positives and own detections), its prediction and tensor mode,
and the detection-side scorer.
"""
import pytest
import torch

from helpers import (build_model, demo_batch, small_mask_iou_head,
                     tiny_model_cfg)

NUM_CLASSES = 4


small_head = small_mask_iou_head


def test_planes_by_hand():
    head = small_head(box_size_input=True)
    rois = torch.tensor([
        [0., 0., 0., 16., 64.],  # 16 x 64: log2(16/32) = -1, log2(2) = 1
        [1., 10., 10., 10.5, 42.],  # 0.5 wide -> 1 pixel: log2(1/32) = -5
    ])
    planes = head.box_size_planes(rois)
    assert planes.shape == (2, 2, 6, 6)
    expected = torch.tensor([[-1., 1.], [-5., 0.]])
    torch.testing.assert_close(planes[:, :, 3, 2], expected)
    # constant over the grid
    torch.testing.assert_close(planes,
                               expected[:, :, None, None].expand(2, 2, 6, 6))
    # (N, 4) boxes give the same planes
    torch.testing.assert_close(head.box_size_planes(rois[:, 1:]), planes)
    with pytest.raises(ValueError, match=r'\(N, 5\)'):
        head.box_size_planes(rois[:, :3])


def test_layout_and_missing_rois():
    head = small_head(box_size_input=True)
    assert head.convs[0].in_channels == 8 + 1 + 2
    assert small_head().convs[0].in_channels == 8 + 1
    feats, masks = torch.rand(2, 8, 6, 6), torch.rand(2, 12, 12)
    with pytest.raises(ValueError, match='head\\(roi_feats, mask_probs, rois'):
        head(feats, masks)
    with pytest.raises(ValueError, match='one RoI per feature'):
        head(feats, masks, torch.tensor([[0., 0., 0., 8., 8.]]))


def test_output_depends_on_the_size_only_with_the_option():
    torch.manual_seed(0)
    feats, masks = torch.rand(1, 8, 6, 6), torch.rand(1, 12, 12)
    small = torch.tensor([[0., 0., 0., 4., 4.]])
    large = torch.tensor([[0., 0., 0., 128., 128.]])
    head = small_head(box_size_input=True)
    with torch.no_grad():  # move the output off the near-zero init
        head.fc_mask_iou.weight.normal_(0, 1)
    assert not torch.allclose(head(feats, masks, small),
                              head(feats, masks, large))
    paper = small_head()
    torch.testing.assert_close(paper(feats, masks, small),
                               paper(feats, masks, large))
    torch.testing.assert_close(paper(feats, masks), paper(feats, masks, large))


def sized_model(**roi_head):
    cfg = tiny_model_cfg(**roi_head)
    cfg.roi_head.mask_iou_head.box_size_input = True
    return build_model(cfg)


def test_training_step_reaches_the_size_weights():
    model = sized_model(mask_iou_detections=dict(loss_weight=1.0))
    model.train()
    model.zero_grad()
    losses = model.loss(*demo_batch(model, NUM_CLASSES, batch_size=2,
                                    size=64))
    for key in ('loss_mask_iou', 'loss_mask_iou_dets'):
        assert torch.isfinite(losses[key]), key
    (losses['loss_mask_iou'] + losses['loss_mask_iou_dets']).backward()
    head = model.roi_head.mask_iou_head
    grad = head.convs[0].weight.grad
    # the two planes are the last two input channels of the first conv
    assert grad.shape[1] == head.in_channels + 1 + 2
    assert float(grad[:, -2:].abs().sum()) > 0


def test_prediction_and_tensor_mode_pass_the_rois():
    model = sized_model().eval()
    model.test_cfg.rcnn.score_thr = 0.0
    head = model.roi_head.mask_iou_head
    with torch.no_grad():
        head.fc_mask_iou.bias.fill_(0.5)
        head.fc_mask_iou.weight.normal_(0, 0.05)
    data = demo_batch(model, NUM_CLASSES, size=64, training=False)
    with torch.no_grad():
        inst = model.predict(*data)[0].pred_instances
        roi_outs = model(*data, mode='tensor')[0]
    assert len(inst) > 0
    assert inst.mask_ious.shape == inst.scores.shape
    assert ((inst.mask_ious >= 0) & (inst.mask_ious <= 1)).all()
    assert roi_outs[-1].shape[-1] == NUM_CLASSES
    # the head's outputs spread: the comparison above means something
    assert float(inst.mask_ious.std()) > 1e-4


def test_detection_scorer_passes_the_rois():
    from mmdet_msrcnn.models import DetectionMaskScorer
    scorer = DetectionMaskScorer(
        mask_iou_head=dict(
            type='mmdet_msrcnn.MaskIoUHead', num_classes=2, in_channels=8,
            conv_out_channels=8, fc_out_channels=16, roi_feat_size=7,
            mask_size=14, box_size_input=True),
        featmap_strides=[4, 8],
        in_channels=8)
    scorer.init_weights()
    feats = [torch.rand(1, 8, 16, 16), torch.rand(1, 8, 8, 8)]
    rois = torch.tensor([[0., 2., 2., 20., 30.], [0., 10., 5., 60., 60.]])
    out = scorer(feats, rois, torch.rand(2, 14, 14))
    assert out.shape == (2, 2) and torch.isfinite(out).all()
