"""MaskIoUHead: shapes, options, loss, clamping and config errors."""
import pytest
import torch
from mmengine.structures import InstanceData

from helpers import small_mask_iou_head
from mmdet_msrcnn.models import INPUT_MODES, MaskIoUHead

small_head = small_mask_iou_head


def test_paper_layout_shapes():
    head = MaskIoUHead(num_classes=80)
    assert len(head.convs) == 4 and head.convs[-1].stride == (2, 2)
    assert head.convs[0].in_channels == 257
    assert head.fcs[0].in_features == 256 * 7 * 7
    assert [fc.out_features for fc in head.fcs] == [1024, 1024]
    assert head.fc_mask_iou.out_features == 80
    out = head(torch.rand(2, 256, 14, 14), torch.rand(2, 28, 28))
    assert out.shape == (2, 80)


def test_sizes_follow_config_odd_feature_size():
    head = small_head(roi_feat_size=7, mask_size=14)  # C4 layout
    assert head.fcs[0].in_features == 8 * 4 * 4
    assert head(torch.rand(3, 8, 7, 7), torch.rand(3, 14, 14)).shape == (3, 3)


@pytest.mark.parametrize('mode', INPUT_MODES)
def test_input_modes(mode):
    head = small_head(input_mode=mode)
    masks = torch.rand(2, 3, 12, 12) if mode == 'concat_all_classes' else \
        torch.rand(2, 12, 12)
    expected_in = {'concat': 9, 'multiply': 8, 'concat_all_classes': 11,
                   'mask_only': 1, 'feature_only': 8}[mode]
    assert head.convs[0].in_channels == expected_in
    assert head(torch.rand(2, 8, 6, 6), masks).shape == (2, 3)


def test_mask_is_max_pooled_to_feature_size():
    head = small_head(input_mode='mask_only')
    mask = torch.zeros(1, 1, 12, 12)
    mask[0, 0, 1, 1] = 0.9  # one pixel survives a 2x2 max pool
    pooled = head._resize_mask(mask)
    assert pooled.shape == (1, 1, 6, 6)
    assert pooled[0, 0, 0, 0] == pytest.approx(0.9)
    assert pooled.sum() == pytest.approx(0.9)


@pytest.mark.parametrize('kwargs, match', [
    (dict(input_mode='nope'), 'input_mode'),
    (dict(target_mode='nope'), 'target_mode'),
    (dict(iou_thr=1.5), 'iou_thr'),
    (dict(num_classes=0), 'num_classes'),
])
def test_bad_options_name_the_field(kwargs, match):
    with pytest.raises(ValueError, match=match):
        small_head(**kwargs)


def test_feature_shape_mismatch_names_the_fix():
    head = small_head()
    with pytest.raises(ValueError, match='roi_feat_size'):
        head(torch.rand(1, 8, 7, 7), torch.rand(1, 14, 14))


def test_loss_gt_class_only_and_threshold():
    head = small_head()
    preds = torch.tensor([[0.1, 0.9, 0.3], [0.5, 0.5, 0.2]],
                         requires_grad=True)
    targets = torch.tensor([0.7, 0.2])
    labels = torch.tensor([1, 2])
    loss = head.loss(preds, targets, labels)['loss_mask_iou']
    # mean over the regressed pairs: ((0.9-0.7)^2 + (0.2-0.2)^2) / 2
    assert loss.item() == pytest.approx(0.02)
    head.iou_thr = 0.5  # only RoIs with target > 0.5
    loss = head.loss(preds, targets, labels)['loss_mask_iou']
    assert loss.item() == pytest.approx(0.04)


def test_loss_all_classes_target_mode():
    head = small_head(target_mode='all_classes')
    preds = torch.tensor([[0.1, 0.9, 0.3]])
    loss = head.loss(preds, torch.tensor([0.7]), torch.tensor([1]))
    expected = (0.1**2 + 0.2**2 + 0.3**2) / 3
    assert loss['loss_mask_iou'].item() == pytest.approx(expected)


def test_zero_rois_gives_zero_loss_with_gradients_everywhere():
    head = small_head()
    preds = head(torch.rand(0, 8, 6, 6), torch.rand(0, 12, 12))
    loss = head.loss(preds, torch.zeros(0), torch.zeros(0, dtype=torch.long))
    loss['loss_mask_iou'].backward()
    assert loss['loss_mask_iou'].item() == 0
    for name, p in head.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all()


def test_predict_clamps_and_keeps_scores():
    head = small_head()
    res = InstanceData()
    res.scores = torch.tensor([0.9, 0.5, 0.8])
    res.labels = torch.tensor([0, 2, 1])
    preds = torch.tensor([[1.4, 0., 0.], [0., 0., -0.3], [0., 0.6, 0.]])
    out = head.predict_mask_ious([preds], [res])[0]
    assert torch.allclose(out.mask_ious, torch.tensor([1.0, 0.0, 0.6]))
    assert torch.allclose(out.mask_scores, torch.tensor([0.9, 0.0, 0.48]))
    assert torch.allclose(out.scores, torch.tensor([0.9, 0.5, 0.8]))
    out = head.predict_mask_ious([preds], [res], mask_score_as_score=True)[0]
    assert torch.allclose(out.scores, out.mask_scores)
