"""mask_overlap_decay: a mask score lowered by its overlap with better ones."""
import numpy as np
import pytest
import torch

from helpers import build_model, demo_batch, tiny_model_cfg

from mmdet_msrcnn.models.utils import (mask_overlap_decay, pairwise_mask_ious,
                                       strict_share)


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


def expected_decay(masks, scores, labels, agnostic, qualities=None):
    """Each score x (1 - max IoU with the masks ranked above), in numpy;
    with ``qualities``, each pair's IoU x (1 - the second chance)."""
    flat = masks.numpy().reshape(len(masks), -1).astype(float)
    inter = flat @ flat.T
    area = np.diag(inter)
    iou = inter / np.maximum(area[:, None] + area[None] - inter, 1)
    score, label = scores.numpy(), labels.numpy()
    out = score.copy()
    for i in range(len(score)):
        above = [j for j in range(len(score))
                 if (agnostic or label[j] == label[i]) and (
                     score[j] > score[i] or (score[j] == score[i] and j < i))]
        if not above:
            continue
        if qualities is None:
            out[i] *= 1 - iou[i, above].max()
            continue
        share = np.clip((qualities.numpy() - 0.5) / 0.5, 0, 1)
        chance = [max(share[i] - share[j], 0) / share[i]
                  if share[i] > 0 else 0. for j in above]
        out[i] *= min(1 - iou[i, j] * (1 - c) for j, c in zip(above, chance))
    return out


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


def test_class_agnostic_decay_by_hand():
    masks = squares()
    scores = torch.tensor([0.9, 0.8, 0.7, 0.95, 0.9])
    # every class counts: D (class 1, 0.95) now ranks above A and E, copies
    # of it (IoU 1 -> 0); B: 1 - 1/3 (A, D and E above, IoU 1/3 each)
    factor = mask_overlap_decay(masks, scores, None)
    np.testing.assert_allclose(factor.numpy(), [0., 2 / 3, 1., 1., 0.],
                               atol=1e-6)
    with pytest.raises(ValueError, match='labels=None'):
        mask_overlap_decay(masks, scores, torch.tensor([0, 1]))


def test_second_chance_kernel_by_hand():
    masks = squares()[[0, 1, 4]]  # A, B (IoU 1/3 with A), E (a copy of A)
    scores = torch.tensor([0.9, 0.8, 0.85])
    labels = torch.zeros(3, dtype=torch.long)
    # strict shares (q - 0.5) / 0.5: A 0.2, B 0.8, E 0.8
    qualities = torch.tensor([0.6, 0.9, 0.9])
    factor = mask_overlap_decay(masks, scores, labels, qualities)
    # E below A: keeps (0.8 - 0.2) / 0.8 = 3/4 of its thresholds: 1 - 1/4;
    # B below A: 1 - 1/3 * 1/4 = 11/12, below E (same share): 1 - 1/3
    np.testing.assert_allclose(factor.numpy(), [1., 2 / 3, 0.75], atol=1e-6)
    # the linear kernel: E is an exact copy ranked below A
    np.testing.assert_allclose(
        mask_overlap_decay(masks, scores, labels).numpy(), [1., 2 / 3, 0.],
        atol=1e-6)
    # E passing no strict threshold gets no second chance (0); B now keeps
    # all of its shares against E (factor 1) and 11/12 against A
    low = torch.tensor([0.6, 0.9, 0.45])
    np.testing.assert_allclose(
        mask_overlap_decay(masks, scores, labels, low).numpy(),
        [1., 11 / 12, 0.], atol=1e-6)
    assert strict_share(torch.tensor([0.3, 0.75, 1.2])).tolist() == [
        0., 0.5, 1.]
    with pytest.raises(ValueError, match='one per detection'):
        mask_overlap_decay(masks, scores, labels, qualities[:2])


def test_decay_kernel_options_are_checked():
    with pytest.raises(ValueError, match='the decay is off'):
        build_model(tiny_model_cfg(mask_overlap_decay_kernel='linear'))
    with pytest.raises(ValueError, match="'second_chance'"):
        build_model(
            tiny_model_cfg(
                mask_overlap_decay=True, mask_overlap_decay_kernel='soft'))


def test_predict_with_the_second_chance_kernel():
    plain = overlap_model(False)
    decayed = build_model(
        tiny_model_cfg(
            mask_overlap_decay=True,
            mask_overlap_decay_kernel='second_chance')).eval()
    decayed.test_cfg.rcnn.score_thr = 0.0
    with torch.no_grad():  # MaskIoUs spread around 0.65: shares differ
        plain.roi_head.mask_iou_head.fc_mask_iou.bias.fill_(0.65)
    decayed.load_state_dict(plain.state_dict())
    data = demo_batch(plain, 4, size=64, training=False)
    with torch.no_grad():
        ref = plain.predict(*data)[0].pred_instances
        out = decayed.predict(*data)[0].pred_instances
    expected = expected_decay(ref.masks, ref.mask_scores, ref.labels, False,
                              ref.mask_ious)
    np.testing.assert_allclose(out.mask_scores.numpy(), expected, atol=1e-6)
    linear = expected_decay(ref.masks, ref.mask_scores, ref.labels, False)
    # the kernel only ever spares: never below the linear decay, and above
    # it somewhere
    assert (expected >= linear - 1e-6).all()
    assert (expected > linear + 1e-6).any()


@pytest.mark.parametrize('value', ['class', 1, 'yes'])
def test_unknown_decay_mode_is_refused(value):
    with pytest.raises(ValueError, match="'class_agnostic'"):
        build_model(tiny_model_cfg(mask_overlap_decay=value))


def overlap_model(decay):
    model = build_model(tiny_model_cfg(mask_overlap_decay=decay)).eval()
    model.test_cfg.rcnn.score_thr = 0.0
    with torch.no_grad():  # every mask fills its box: boxes overlap
        model.roi_head.mask_head.conv_logits.bias.fill_(1.0)
        head = model.roi_head.mask_iou_head
        head.fc_mask_iou.bias.fill_(0.5)
        head.fc_mask_iou.weight.normal_(0, 0.05)
    return model


@pytest.mark.parametrize('mode', [True, 'per_class', 'class_agnostic'])
def test_predict_decays_the_mask_scores_only(mode):
    plain, decayed = overlap_model(False), overlap_model(mode)
    agnostic = mode == 'class_agnostic'
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
    score, label = ref.mask_scores.numpy(), ref.labels.numpy()
    expected = expected_decay(ref.masks, ref.mask_scores, ref.labels,
                              agnostic)
    np.testing.assert_allclose(out.mask_scores.numpy(), expected, atol=1e-6)
    # something was decayed, and the best mask of each class was not
    assert (out.mask_scores < ref.mask_scores - 1e-6).any()
    groups = [label >= 0] if agnostic else [label == c
                                            for c in np.unique(label)]
    for group in groups:
        best = np.argmax(np.where(group, score, -1))
        assert out.mask_scores[best] == pytest.approx(float(score[best]))
    if agnostic:  # the tiny model predicts several classes over one spot
        assert len(np.unique(label)) > 1
        per_class = overlap_model('per_class')
        per_class.load_state_dict(plain.state_dict())
        with torch.no_grad():
            own = per_class.predict(*data)[0].pred_instances
        assert (out.mask_scores < own.mask_scores - 1e-6).any()
        assert (out.mask_scores <= own.mask_scores + 1e-6).all()


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


@pytest.mark.parametrize('config', [
    'configs/demo/rtmdet-ins-ms_tiny_shapes.py',
    'configs/demo/solov2-ms_r18_shapes.py'
])
@pytest.mark.parametrize('mode', ['per_class', 'class_agnostic'])
def test_detector_level_hosts_decay_through_the_scorer(config, mode):
    """The detection scorer of RTMDet-Ins / SOLOv2 takes the same option:
    only ``mask_scores`` change, by the decay of the host's masks."""
    import copy
    import os.path as osp

    from detector_scoring_utils import detector_cfg
    from mmengine.config import Config

    from helpers import REPO_ROOT
    from mmdet_msrcnn.deployment.export import check_exportable
    cfg = detector_cfg(Config.fromfile(osp.join(REPO_ROOT, config)), config)
    plain = build_model(cfg).eval()
    with torch.no_grad():  # MaskIoUs above 0, so that the scores can decay
        head = plain.mask_scorer.mask_iou_head
        head.fc_mask_iou.bias.fill_(0.5)
        head.fc_mask_iou.weight.normal_(0, 0.05)
    cfg = copy.deepcopy(cfg)
    cfg.mask_scorer.mask_overlap_decay = mode
    decayed = build_model(cfg).eval()
    decayed.load_state_dict(plain.state_dict())
    data = demo_batch(plain, 4, batch_size=2, size=64, training=False)
    with torch.no_grad():
        refs = plain.predict(*copy.deepcopy(data))
        outs = decayed.predict(*copy.deepcopy(data))
    changed = 0
    for ref, out in zip(refs, outs):
        ref, out = ref.pred_instances, out.pred_instances
        assert len(ref) > 1
        for key in ('scores', 'labels', 'mask_ious', 'bboxes', 'masks'):
            assert torch.equal(out[key], ref[key]), key
        expected = expected_decay(ref.masks, ref.mask_scores, ref.labels,
                                  mode == 'class_agnostic')
        np.testing.assert_allclose(out.mask_scores.numpy(), expected,
                                   atol=1e-6)
        changed += int((out.mask_scores < ref.mask_scores - 1e-6).sum())
    assert changed > 0
    with pytest.raises(ValueError, match='model.mask_scorer'):
        check_exportable(decayed)
    check_exportable(plain)
