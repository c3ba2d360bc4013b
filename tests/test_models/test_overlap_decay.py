"""mask_overlap_decay: a mask score lowered by its overlap with better ones."""
import numpy as np
import pytest
import torch

from helpers import build_model, demo_batch, tiny_model_cfg

from mmdet_msrcnn.models.utils import mask_overlap_decay, pairwise_mask_ious


def squares():
    """A: rows 0-3 x cols 0-3; B: cols 2-5 (IoU with A 8 / 24); C apart;
    D = A of another class; E = A, same class and score as A."""
    masks = torch.zeros(5, 8, 8, dtype=torch.bool)
    masks[0, :4, :4] = True
    masks[1, :4, 2:6] = True
    masks[2, 6:, 6:] = True
    masks[3, :4, :4] = True
    masks[4, :4, :4] = True
    return masks


def test_decay_by_hand():
    masks = squares()
    scores = torch.tensor([0.9, 0.8, 0.7, 0.95, 0.9])
    labels = torch.tensor([0, 0, 0, 1, 0])
    factor = mask_overlap_decay(masks, scores, labels)
    # A: nothing above in class 0 (E ties, but comes after A); B: 1 - 1/3
    # (A and E above, both IoU 1/3); C: no overlap; D: the only class-1
    # mask; E: a copy of A, ranked after it
    np.testing.assert_allclose(factor.numpy(), [1., 2 / 3, 1., 1., 0.],
                               atol=1e-6)
    assert factor.dtype == scores.dtype
    # the pairwise IoU does not depend on the pixel chunks
    np.testing.assert_allclose(
        pairwise_mask_ious(masks, chunk=7).numpy(),
        pairwise_mask_ious(masks).numpy())
    assert pairwise_mask_ious(masks)[0, 1] == pytest.approx(8 / 24)
    # an empty mask overlaps nothing
    empty = torch.zeros(2, 4, 4, dtype=torch.bool)
    assert pairwise_mask_ious(empty).abs().sum() == 0
    np.testing.assert_allclose(
        mask_overlap_decay(empty, torch.tensor([0.5, 0.4]),
                           torch.tensor([0, 0])).numpy(), [1., 1.])
    # one detection or none: nothing to decay
    assert mask_overlap_decay(masks[:1], scores[:1], labels[:1]).item() == 1
    assert mask_overlap_decay(masks[:0], scores[:0], labels[:0]).numel() == 0
    with pytest.raises(ValueError, match='one of each per detection'):
        mask_overlap_decay(masks, scores[:3], labels)


def overlap_model(decay):
    model = build_model(tiny_model_cfg(mask_overlap_decay=decay)).eval()
    model.test_cfg.rcnn.score_thr = 0.0
    with torch.no_grad():  # every mask fills its box: boxes overlap
        model.roi_head.mask_head.conv_logits.bias.fill_(1.0)
        head = model.roi_head.mask_iou_head
        head.fc_mask_iou.bias.fill_(0.5)
        head.fc_mask_iou.weight.normal_(0, 0.05)
    return model


def test_predict_decays_the_mask_scores_only():
    plain, decayed = overlap_model(False), overlap_model(True)
    decayed.load_state_dict(plain.state_dict())
    data = demo_batch(plain, 4, size=64, training=False)
    with torch.no_grad():
        ref = plain.predict(*data)[0].pred_instances
        out = decayed.predict(*data)[0].pred_instances
    assert len(ref) > 5
    for key in ('scores', 'labels', 'mask_ious', 'maskness', 'bboxes'):
        torch.testing.assert_close(out[key], ref[key])
    assert torch.equal(out.masks, ref.masks)
    # independently: 1 - max IoU with the same-class masks ranked above
    masks = ref.masks.numpy().reshape(len(ref), -1).astype(float)
    inter = masks @ masks.T
    area = np.diag(inter)
    iou = inter / np.maximum(area[:, None] + area[None] - inter, 1)
    score, label = ref.mask_scores.numpy(), ref.labels.numpy()
    expected = score.copy()
    for i in range(len(score)):
        above = [j for j in range(len(score))
                 if label[j] == label[i] and (score[j] > score[i] or (
                     score[j] == score[i] and j < i))]
        if above:
            expected[i] *= 1 - iou[i, above].max()
    np.testing.assert_allclose(out.mask_scores.numpy(), expected, atol=1e-6)
    # something was decayed, and the best mask of each class was not
    assert (out.mask_scores < ref.mask_scores - 1e-6).any()
    for cls in np.unique(label):
        best = np.argmax(np.where(label == cls, score, -1))
        assert out.mask_scores[best] == pytest.approx(float(score[best]))


def test_export_of_a_decayed_config_is_refused():
    from mmdet_msrcnn.deployment.export import check_exportable
    model = build_model(tiny_model_cfg(mask_overlap_decay=True))
    with pytest.raises(ValueError, match='mask_overlap_decay=False'):
        check_exportable(model)
    check_exportable(build_model(tiny_model_cfg()))  # the default exports


def test_cascade_host_inherits_the_decay():
    """The option sits in the mixin's ``predict``: a Cascade host (merged
    masks of three stages) decays its mask scores the same way."""
    import os.path as osp

    from helpers import REPO_ROOT, steady_boxes
    config = osp.join(REPO_ROOT,
                      'configs/demo/cascade-ms-rcnn_r18_fpn_shapes.py')
    models = []
    for decay in (False, True):
        model = steady_boxes(build_model(
            tiny_model_cfg(config, mask_overlap_decay=decay))).eval()
        model.test_cfg.rcnn.score_thr = 0.0
        iou_heads = model.roi_head.mask_iou_head
        if not isinstance(iou_heads, torch.nn.ModuleList):
            iou_heads = [iou_heads]
        with torch.no_grad():  # every mask fills its box, IoUs above 0
            for head in model.roi_head.mask_head:
                head.conv_logits.bias.fill_(1.0)
            for head in iou_heads:
                if head is not None:
                    head.fc_mask_iou.bias.fill_(0.5)
        models.append(model)
    models[1].load_state_dict(models[0].state_dict())
    data = demo_batch(models[0], 4, size=64, training=False)
    with torch.no_grad():
        ref, out = (m.predict(*data)[0].pred_instances for m in models)
    assert len(ref) > 5 and (ref.mask_ious > 0).all()
    torch.testing.assert_close(out.mask_ious, ref.mask_ious)
    torch.testing.assert_close(out.scores, ref.scores)
    expected = ref.mask_scores * mask_overlap_decay(ref.masks,
                                                    ref.mask_scores,
                                                    ref.labels)
    torch.testing.assert_close(out.mask_scores, expected)
    assert (out.mask_scores < ref.mask_scores - 1e-6).any()
