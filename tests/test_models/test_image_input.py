"""``MaskIoUHead(image_input=...)``: the pixels under each mask.

Hand-computed crops (a ramp image, whose bilinear samples are exact), the
layer shapes, invariance to the image's brightness and contrast with the
per-RoI standardisation (and not without it), the clear errors (a head
without crops, crops for a plain head, a plain mmdet detector, a
single-stage scorer, bad options), :class:`FeaturesWithImage` behaving as
the tuple of levels, and the detectors of ours that hand the RoI head the
image: a Mask R-CNN checkpoint's keys, a training step reaching the stem,
prediction and tensor mode, results that move with the pixels while the
boxes, masks and classification scores do not, and a cascade host.
"""
import os.path as osp
import pickle

import pytest
import torch

from helpers import (REPO_ROOT, build_model, demo_batch, one_step_losses,
                     small_mask_iou_head, tiny_model_cfg)

NUM_CLASSES = 4
CASCADE_DEMO = osp.join(REPO_ROOT,
                        'configs/demo/cascade-ms-rcnn_r18_fpn_shapes.py')


def ramp_image(height=32, width=32):
    """Channels x, y and x + y (pixel indices): bilinear samples of it are
    exact, so a crop can be computed by hand."""
    xs = torch.arange(width, dtype=torch.float32).expand(height, width)
    ys = torch.arange(height, dtype=torch.float32)[:, None].expand(
        height, width)
    return torch.stack([xs, ys, xs + ys])[None]


def image_head(**image_input):
    """The helpers' small head (6 x 6 RoI feature, 12 x 12 mask)."""
    cfg = dict(out_channels=4, context=2)
    cfg.update(image_input)
    return small_mask_iou_head(image_input=cfg)


def test_crop_by_hand():
    head = image_head()
    # box 12 x 6 at (8, 4); mask 12 x 12, context 2: the crop is the box
    # grown by 16 / 12 about its centre (14, 7): x in [6, 22], y in [3, 11],
    # 16 x 16 cells of 1 x 0.5 pixels. A cell centred at continuous
    # coordinate c samples the ramp at pixel index c - 0.5 (aligned
    # RoIAlign: pixel k covers [k, k + 1]).
    crops = head.crop_image(ramp_image(), torch.tensor([[0., 8., 4., 20.,
                                                         10.]]))
    assert crops.shape == (1, 3, 16, 16)
    cells = torch.arange(16, dtype=torch.float32)
    x_expected = (6 + cells + 0.5 - 0.5).expand(16, 16)
    y_expected = (3 + 0.5 * cells + 0.25 - 0.5)[:, None].expand(16, 16)
    torch.testing.assert_close(crops[0, 0], x_expected)
    torch.testing.assert_close(crops[0, 1], y_expected)
    torch.testing.assert_close(crops[0, 2], x_expected + y_expected)
    # the central 12 x 12 cells lie on the mask cells: column 2 + i is the
    # pixel under mask column i of the box (x1 + i)
    torch.testing.assert_close(crops[0, 0, 0, 2:14], 8 + cells[:12])


def test_layout():
    head = image_head()
    # RoI feature 8 + target mask 1 + image planes 4
    assert head.convs[0].in_channels == 8 + 1 + 4
    assert head.image_stem.conv.in_channels == 3 + 1
    assert head.image_stem.grid_size == 16
    assert head.with_image_input and not small_mask_iou_head(
    ).with_image_input
    feats, masks = torch.rand(2, 8, 6, 6), torch.rand(2, 12, 12)
    rois = torch.tensor([[0., 8., 4., 20., 10.], [0., 1., 1., 30., 9.]])
    crops = head.crop_image(ramp_image(), rois)
    planes = head.image_stem(crops, masks[:, None])
    assert planes.shape == (2, 4, 6, 6)
    assert head(feats, masks, rois, crops).shape == (2, 3)
    # a mask of another square size is resized to the stem's grid, also
    # for a head trained on coarse masks (PointRend's 7 x 7)
    assert head(feats, torch.rand(2, 7, 7), rois, crops).shape == (2, 3)
    coarse = small_mask_iou_head(mask_size=3, image_input=dict(
        out_channels=4, context=2))
    assert coarse.image_stem.grid_size == head.image_stem.grid_size
    assert coarse(feats, torch.rand(2, 3, 3), rois, crops).shape == (2, 3)


def test_standardised_crops_ignore_brightness_and_contrast():
    torch.manual_seed(0)
    feats, masks = torch.rand(2, 8, 6, 6), torch.rand(2, 12, 12)
    rois = torch.tensor([[0., 8., 4., 20., 10.], [0., 3., 5., 15., 29.]])
    img = torch.rand(1, 3, 32, 32)
    for normalize in (True, False):
        head = image_head(normalize=normalize)
        with torch.no_grad():  # move the output off the near-zero init
            head.fc_mask_iou.weight.normal_(0, 1)
        out = head(feats, masks, rois, head.crop_image(img, rois))
        brighter = head(feats, masks, rois,
                        head.crop_image(3 * img + 0.7, rois))
        other = head(feats, masks, rois,
                     head.crop_image(torch.rand(1, 3, 32, 32), rois))
        # the pixels matter either way
        assert not torch.allclose(out, other, atol=1e-4)
        if normalize:
            torch.testing.assert_close(out, brighter, atol=1e-5, rtol=1e-5)
        else:
            assert not torch.allclose(out, brighter, atol=1e-4)


def test_head_errors():
    head = image_head()
    feats, masks = torch.rand(1, 8, 6, 6), torch.rand(1, 12, 12)
    rois = torch.tensor([[0., 8., 4., 20., 10.]])
    with pytest.raises(ValueError, match='image_crops = head.crop_image'):
        head(feats, masks, rois)
    with pytest.raises(ValueError, match='expected \\(1, 3, 16, 16\\)'):
        head(feats, masks, rois, torch.rand(1, 3, 12, 12))
    with pytest.raises(ValueError, match='built without image_input'):
        small_mask_iou_head()(feats, masks, rois, torch.rand(1, 3, 16, 16))
    with pytest.raises(ValueError, match='built without it'):
        small_mask_iou_head().crop_image(ramp_image(), rois)
    with pytest.raises(ValueError, match=r'\(B, 3, H, W\)'):
        head.crop_image(torch.rand(1, 1, 32, 32), rois)
    with pytest.raises(ValueError, match='must be even'):
        image_head(context=3)
    with pytest.raises(ValueError, match="unknown image_input keys \\['size'"):
        image_head(size=3)
    with pytest.raises(ValueError, match="input_mode='concat'"):
        small_mask_iou_head(input_mode='mask_only', image_input=dict())
    with pytest.raises(TypeError, match='must be None or a dict'):
        small_mask_iou_head(image_input=True)


def test_ring_contrast_by_hand():
    """A 2 x 2 mask in a 6 x 6 grid, ring 1: the ring is the 12 cells
    around it (the 4 x 4 square less the mask)."""
    from mmdet_msrcnn.models.mask_heads.mask_image_stem import (
        RING_CONTRAST_EPS, ring_contrast)
    binary = torch.zeros(2, 1, 6, 6)
    binary[0, 0, 2:4, 2:4] = 1
    crops = torch.zeros(2, 2, 6, 6)
    crops[:, 0, 2:4, 2:4] = 3.  # channel 0: 3 inside, 0 elsewhere
    crops[:, 1] = 1.  # channel 1: flat
    crops[:, 1, 1, 1:5] = 5.  # ... but 5 on the ring's top row (4 cells)
    out = ring_contrast(crops, binary, ring=1)
    # channel 0: (3 - 0) / (0 + 0 + eps); channel 1: inside 1, the ring's
    # 12 cells are 4 x 5 and 8 x 1: mean 7 / 3, std sqrt(32 / 9)
    ring_mean, ring_std = 7 / 3, (32 / 9)**0.5
    torch.testing.assert_close(
        out[0], torch.tensor([3 / RING_CONTRAST_EPS,
                              (1 - ring_mean) / (ring_std +
                                                 RING_CONTRAST_EPS)]))
    # image 1: an empty mask has no contrast
    torch.testing.assert_close(out[1], torch.zeros(2))
    # a mask covering the whole grid leaves no ring: 0 too
    full = ring_contrast(crops, torch.ones(2, 1, 6, 6), ring=1)
    torch.testing.assert_close(full, torch.zeros(2, 2))


def test_binary_mask_and_ring_contrast_planes():
    head = image_head(binary_mask=True, ring_contrast=True, ring=1)
    stem = head.image_stem
    # the convolutions read image 3 + mask + binarised mask; the output is
    # the 4 convolved planes and 3 contrast planes (one per channel)
    assert stem.conv.in_channels == 3 + 2
    assert stem.num_planes == 4 + 3
    assert head.convs[0].in_channels == 8 + 1 + 7
    feats, masks = torch.rand(2, 8, 6, 6), torch.rand(2, 12, 12)
    rois = torch.tensor([[0., 8., 4., 20., 10.], [0., 1., 1., 30., 9.]])
    crops = head.crop_image(ramp_image(), rois)
    planes = stem(crops, masks[:, None])
    assert planes.shape == (2, 7, 6, 6)
    # the contrast planes are constant, and the contrast of the
    # standardised crop with the mask binarised at 0.5, zero-padded
    from mmdet_msrcnn.models.mask_heads.mask_image_stem import ring_contrast
    normed = (crops - crops.mean(dim=(2, 3), keepdim=True)) / crops.std(
        dim=(2, 3), keepdim=True)
    binary = torch.nn.functional.pad((masks[:, None] >= 0.5).float(),
                                     (2, 2, 2, 2))
    expected = ring_contrast(normed, binary, 1)
    torch.testing.assert_close(planes[:, 4:],
                               expected[:, :, None, None].expand(2, 3, 6, 6))
    assert head(feats, masks, rois, crops).shape == (2, 3)
    # the default stem adds neither
    assert image_head().image_stem.num_planes == 4
    with pytest.raises(ValueError, match='mask_thr=1.5'):
        image_head(mask_thr=1.5)
    with pytest.raises(ValueError, match='ring=0'):
        image_head(ring_contrast=True, ring=0)


def test_features_with_image_are_the_levels():
    from mmdet_msrcnn.models.utils import FeaturesWithImage, image_of
    levels = (torch.rand(1, 2, 8, 8), torch.rand(1, 2, 4, 4))
    img = torch.rand(1, 3, 32, 32)
    x = FeaturesWithImage(levels, img)
    assert len(x) == 2 and x[1] is levels[1]
    assert type(x[:1]) is tuple and x[:1][0] is levels[0]
    assert [f.shape[-1] for f in x] == [8, 4]
    assert image_of(x) is img and image_of(levels) is None
    back = pickle.loads(pickle.dumps(x))
    assert isinstance(back, FeaturesWithImage) and len(back) == 2
    torch.testing.assert_close(back.image, img)
    with pytest.raises(TypeError, match='not a single tensor'):
        FeaturesWithImage(img, img)


def image_model_cfg(path=None, **roi_head):
    cfg = tiny_model_cfg(path, **roi_head) if path else tiny_model_cfg(
        **roi_head)
    cfg.type = 'mmdet_msrcnn.ImageInputMaskRCNN'
    cfg.roi_head.mask_iou_head.image_input = dict(out_channels=4)
    return cfg


def test_plain_mmdet_detector_is_refused_clearly():
    cfg = image_model_cfg()
    cfg.type = 'MaskRCNN'
    model = build_model(cfg)
    model.train()
    with pytest.raises(ValueError, match='ImageInputMaskRCNN'):
        model.loss(*demo_batch(model, NUM_CLASSES, size=64))


def test_detection_scorer_refuses_image_input():
    from mmdet_msrcnn.models import DetectionMaskScorer
    with pytest.raises(ValueError, match='Drop image_input'):
        DetectionMaskScorer(
            mask_iou_head=dict(
                type='mmdet_msrcnn.MaskIoUHead', num_classes=2,
                in_channels=8, roi_feat_size=7, mask_size=14,
                image_input=dict()),
            featmap_strides=[4, 8],
            in_channels=8)


def test_checkpoint_keys_are_mask_rcnn_plus_the_head():
    from helpers import DEMO_MASK
    image_model = build_model(image_model_cfg())
    mask_rcnn = build_model(tiny_model_cfg(DEMO_MASK))
    keys = set(image_model.state_dict())
    head_keys = {k for k in keys if k.startswith('roi_head.mask_iou_head.')}
    assert {k for k in head_keys if '.image_stem.' in k} == {
        f'roi_head.mask_iou_head.image_stem.{n}.{p}'
        for n in ('conv', 'conv_down') for p in ('weight', 'bias')
    }
    assert keys - head_keys == set(mask_rcnn.state_dict())
    missing, unexpected = image_model.load_state_dict(
        mask_rcnn.state_dict(), strict=False)
    assert set(missing) == head_keys and not unexpected


def test_training_step_reaches_the_stem():
    model, losses = one_step_losses(
        image_model_cfg(mask_iou_detections=dict(loss_weight=1.0)),
        NUM_CLASSES)
    for key in ('loss_mask_iou', 'loss_mask_iou_dets'):
        assert torch.isfinite(losses[key]), key
    (losses['loss_mask_iou'] + losses['loss_mask_iou_dets']).backward()
    stem = model.roi_head.mask_iou_head.image_stem
    for name, p in stem.named_parameters():
        assert p.grad is not None and float(p.grad.abs().sum()) > 0, name


def spread_image_model():
    model = build_model(image_model_cfg()).eval()
    model.test_cfg.rcnn.score_thr = 0.0
    head = model.roi_head.mask_iou_head
    with torch.no_grad():
        head.fc_mask_iou.bias.fill_(0.5)
        head.fc_mask_iou.weight.normal_(0, 0.05)
        head.convs[0].weight[:, -4:].normal_(0, 0.5)
    return model


def test_prediction_moves_with_the_pixels_only():
    from mmdet_msrcnn.models.utils import FeaturesWithImage
    model = spread_image_model()
    inputs, samples = demo_batch(model, NUM_CLASSES, size=64, training=False)
    with torch.no_grad():
        x = model.extract_feat(inputs)
        assert isinstance(x, FeaturesWithImage) and x.image is inputs
        proposals = model.rpn_head.predict(x, samples, rescale=False)
        results = []
        for img in (inputs, torch.rand_like(inputs)):
            results.append(model.roi_head.predict(
                FeaturesWithImage(tuple(x), img),
                [p.clone() for p in proposals], samples, rescale=False)[0])
    same, other = results
    assert len(same) > 0
    for key in ('bboxes', 'scores', 'labels', 'masks'):
        assert torch.equal(getattr(same, key), getattr(other, key)), key
    assert not torch.allclose(same.mask_ious, other.mask_ious, atol=1e-4)
    assert float(same.mask_ious.std()) > 1e-4
    # the detector's own predict hands over the same image
    with torch.no_grad():
        full = model.predict(inputs, samples, rescale=False)[0].pred_instances
    torch.testing.assert_close(full.mask_ious, same.mask_ious)


def test_tensor_mode_scores_with_the_image():
    model = spread_image_model()
    inputs, samples = demo_batch(model, NUM_CLASSES, size=64, training=False)
    with torch.no_grad():
        outs = model(inputs, samples, mode='tensor')
    roi_outs = outs[-1]
    assert len(roi_outs) == 4
    assert roi_outs[-1].shape == (roi_outs[2].shape[0], NUM_CLASSES)


def test_cascade_host_trains_and_scores_with_the_image():
    cfg = image_model_cfg(CASCADE_DEMO)
    cfg.type = 'mmdet_msrcnn.ImageInputCascadeRCNN'
    model = build_model(cfg)
    model.train()
    model.zero_grad()
    losses = model.loss(*demo_batch(model, NUM_CLASSES, size=64))
    loss = losses['s2.loss_mask_iou']
    assert torch.isfinite(loss)
    loss.backward()
    stem = model.roi_head.mask_iou_head.image_stem
    assert float(stem.conv.weight.grad.abs().sum()) > 0
    model.eval()
    model.test_cfg.rcnn.score_thr = 0.0
    with torch.no_grad():
        inst = model.predict(*demo_batch(
            model, NUM_CLASSES, size=64, training=False))[0].pred_instances
    assert inst.mask_ious.shape == inst.scores.shape
    assert ((inst.mask_ious >= 0) & (inst.mask_ious <= 1)).all()


@pytest.mark.usefixtures('one_thread')
@pytest.mark.parametrize('config, detector, semantic', [
    ('configs/htc_ms/htc-ms_r50_fpn_1x_coco.py',
     'mmdet_msrcnn.ImageInputHybridTaskCascade', True),
    ('configs/point_rend_ms/point-rend-ms_r50-caffe_fpn_1x_coco.py',
     'mmdet_msrcnn.ImageInputPointRend', False),
])
def test_htc_and_point_rend_hosts_hand_over_the_image(config, detector,
                                                      semantic):
    from mmengine.config import Config

    from helpers import strip_pretrained
    cfg = Config.fromfile(osp.join(REPO_ROOT, config)).model
    strip_pretrained(cfg)
    cfg.type = detector
    cfg.roi_head.mask_iou_head.image_input = dict(out_channels=4)
    model = build_model(cfg)
    num_classes = 80
    model.train()
    losses = model.loss(*demo_batch(
        model, num_classes, size=64, with_semantic=semantic))
    key = next(k for k in losses if k.endswith('loss_mask_iou'))
    assert torch.isfinite(losses[key])
    losses[key].backward()
    stem = model.roi_head.mask_iou_head.image_stem
    assert float(stem.conv.weight.grad.abs().sum()) > 0
    model.eval()
    with torch.no_grad():
        inst = model.predict(*demo_batch(
            model, num_classes, size=64, training=False))[0].pred_instances
    assert inst.mask_ious.shape == inst.scores.shape
    assert ((inst.mask_ious >= 0) & (inst.mask_ious <= 1)).all()
