"""ONNX export through mmdeploy, run in ONNX Runtime, against PyTorch.

The demo-size detectors (slim R18 FPN, 4 classes, random weights) are
exported from their demo configs as they are (Soft-NMS at test time) and
compared on CPU with the PyTorch model under hard NMS, the NMS the graph
runs: the same detections (labels equal, boxes within 1e-3 relative),
masks of IoU >= 0.99, ``mask_ious`` within 1e-3. Needs the ``deploy``
extras; skipped without them.
"""
import copy
import os.path as osp

import numpy as np
import pytest
import torch

REASON = ('needs the deploy extras (mmdeploy, onnx, onnxruntime): '
          'pip install -e .[deploy]')
pytest.importorskip('mmdeploy', reason=REASON)
pytest.importorskip('onnx', reason=REASON)
pytest.importorskip('onnxruntime', reason=REASON)

from helpers import REPO_ROOT, build_model, load_tool  # noqa: E402

DEPLOY_DYNAMIC = osp.join(
    REPO_ROOT, 'configs/deploy/instance-seg-scoring_onnxruntime_dynamic.py')
DEPLOY_STATIC = osp.join(
    REPO_ROOT,
    'configs/deploy/instance-seg-scoring_onnxruntime_static-128x128.py')
DEMO = {
    'ms_rcnn': osp.join(REPO_ROOT, 'configs/demo/ms-rcnn_r18_fpn_shapes.py'),
    'cascade': osp.join(REPO_ROOT,
                        'configs/demo/cascade-ms-rcnn_r18_fpn_shapes.py'),
}


def image(height, width, seed=0):
    """A random BGR image."""
    rng = np.random.RandomState(seed)
    return (rng.rand(height, width, 3) * 255).astype(np.uint8)


def demo_model(cfg):
    """The demo detector with random weights and spread MaskIoU outputs.

    The MaskIoU head's last layer starts near 0, so most of its clamped
    outputs would be exactly 0; a bias of 0.5 spreads them over (0, 1).
    """
    model = build_model(cfg.model).eval()
    head = model.roi_head.mask_iou_head
    with torch.no_grad():
        head.fc_mask_iou.bias.fill_(0.5)
    return model


def hard_nms_copy(model):
    """The PyTorch model with the exported graph's NMS (hard, same IoU)."""
    model = copy.deepcopy(model)
    nms = model.roi_head.test_cfg.nms
    model.roi_head.test_cfg.nms = dict(
        type='nms', iou_threshold=nms.iou_threshold)
    return model


def compare(ort_det, torch_model, img):
    """ORT and PyTorch results of one image, and their agreement.

    Returns:
        dict: ``num`` detections, ``box_rel`` (max relative box error),
        ``mask_iou`` (min IoU of paired masks), ``mask_ious`` and
        ``scores`` (max abs errors), ``labels_equal``.
    """
    data = ort_det.preprocess(img)
    ort = ort_det.predict(copy.deepcopy(data))[0].pred_instances
    with torch.no_grad():
        ref = torch_model.predict(
            data['inputs'], data['data_samples'],
            rescale=True)[0].pred_instances
    assert len(ort) == len(ref), (len(ort), len(ref))
    assert len(ref) > 0
    inter = (ort.masks & ref.masks).flatten(1).sum(1).double()
    union = (ort.masks | ref.masks).flatten(1).sum(1).double()
    mask_iou = torch.where(union > 0, inter / union.clamp(min=1),
                           torch.ones_like(union))
    return dict(
        num=len(ref),
        labels_equal=bool((ort.labels == ref.labels).all()),
        box_rel=float(((ort.bboxes - ref.bboxes).abs() /
                       ref.bboxes.abs().clamp(min=1)).max()),
        scores=float((ort.scores - ref.scores).abs().max()),
        mask_iou=float(mask_iou.min()),
        mask_ious=float((ort.mask_ious - ref.mask_ious).abs().max()),
        mask_scores=float((ort.mask_scores - ref.mask_scores).abs().max()),
        maskness=float((ort.maskness - ref.maskness).abs().max()),
        ref_mask_ious=ref.mask_ious)


def check_equal(stats):
    assert stats['labels_equal']
    assert stats['box_rel'] <= 1e-3
    assert stats['scores'] <= 1e-3
    assert stats['mask_iou'] >= 0.99
    assert stats['mask_ious'] <= 1e-3
    assert stats['mask_scores'] <= 1e-3
    assert stats['maskness'] <= 1e-3
    # the comparison means something: spread MaskIoU outputs
    assert float(stats['ref_mask_ious'].std()) > 1e-3


@pytest.fixture(scope='module')
def exported(tmp_path_factory):
    """The demo MS R-CNN exported with the dynamic deploy config."""
    from mmengine.config import Config

    from mmdet_msrcnn.deployment import ORTMaskScoringDetector, export_model
    cfg = Config.fromfile(DEMO['ms_rcnn'])
    assert cfg.model.test_cfg.rcnn.nms.type == 'soft_nms'
    model = demo_model(cfg)
    out = str(tmp_path_factory.mktemp('onnx') / 'ms_rcnn.onnx')
    with pytest.warns(UserWarning, match='runs hard NMS'):
        export_model(model, cfg, DEPLOY_DYNAMIC, image(128, 128), out)
    det = ORTMaskScoringDetector(out, cfg, DEPLOY_DYNAMIC, num_threads=1)
    return dict(cfg=cfg, model=model, onnx=out, det=det)


# sizes the test pipeline resizes to multiples of 32: no padding, which the
# graph would take for image (mmdeploy clips boxes to the input tensor)
@pytest.mark.parametrize('shape', [(128, 128), (96, 128), (64, 64)])
def test_ms_rcnn_onnx_runtime_matches_pytorch(exported, shape):
    stats = compare(exported['det'], hard_nms_copy(exported['model']),
                    image(*shape, seed=1))
    check_equal(stats)


def test_graph_is_plain_onnx_with_four_outputs(exported):
    import onnx
    graph = onnx.load(exported['onnx']).graph
    assert [o.name for o in graph.output] == [
        'dets', 'labels', 'masks', 'mask_ious'
    ]
    ops = {(n.domain, n.op_type) for n in graph.node}
    # standard operators only: no custom-op library to load
    assert {domain for domain, _ in ops} == {''}
    assert ('', 'NonMaxSuppression') in ops and ('', 'RoiAlign') in ops
    align = [n for n in graph.node if n.op_type == 'RoiAlign'][0]
    attrs = {a.name: a for a in align.attribute}
    assert attrs['coordinate_transformation_mode'].s == b'half_pixel'


def test_cascade_ms_rcnn_onnx_runtime_matches_pytorch(tmp_path):
    from mmengine.config import Config

    from mmdet_msrcnn.deployment import ORTMaskScoringDetector, export_model
    cfg = Config.fromfile(DEMO['cascade'])
    model = demo_model(cfg)
    out = str(tmp_path / 'cascade.onnx')
    with pytest.warns(UserWarning, match='runs hard NMS'):
        export_model(model, cfg, DEPLOY_STATIC, image(128, 128), out)
    det = ORTMaskScoringDetector(out, cfg, DEPLOY_STATIC, num_threads=1)
    check_equal(compare(det, hard_nms_copy(model), image(128, 128, seed=1)))


def test_box_size_input_onnx_runtime_matches_pytorch(tmp_path):
    """``mask_iou_head.box_size_input``: the graph feeds the head the RoIs."""
    from mmengine.config import Config

    from mmdet_msrcnn.deployment import ORTMaskScoringDetector, export_model
    cfg = Config.fromfile(DEMO['ms_rcnn'])
    cfg.model.roi_head.mask_iou_head.box_size_input = True
    model = demo_model(cfg)
    with torch.no_grad():  # let the size planes move the outputs
        model.roi_head.mask_iou_head.convs[0].weight[:, -2:].normal_(0, 0.5)
    out = str(tmp_path / 'box_size.onnx')
    with pytest.warns(UserWarning, match='runs hard NMS'):
        export_model(model, cfg, DEPLOY_STATIC, image(128, 128), out)
    det = ORTMaskScoringDetector(out, cfg, DEPLOY_STATIC, num_threads=1)
    check_equal(compare(det, hard_nms_copy(model), image(128, 128, seed=1)))


def test_image_input_onnx_runtime_matches_pytorch(tmp_path):
    """``mask_iou_head.image_input``: the graph crops the input image.

    mmdeploy's rewrite of the two-stage ``forward`` calls ``extract_feat``,
    which ``ImageInputMaskRCNN`` overrides to carry the image, so the
    exported graph RoIAligns the input under every mask as PyTorch does.
    """
    from mmengine.config import Config

    from mmdet_msrcnn.deployment import ORTMaskScoringDetector, export_model
    cfg = Config.fromfile(DEMO['ms_rcnn'])
    cfg.model.type = 'mmdet_msrcnn.ImageInputMaskRCNN'
    cfg.model.roi_head.mask_iou_head.image_input = dict()
    model = demo_model(cfg)
    head = model.roi_head.mask_iou_head
    planes = head.image_stem.out_channels
    with torch.no_grad():  # let the image planes move the outputs
        head.convs[0].weight[:, -planes:].normal_(0, 0.5)
    out = str(tmp_path / 'image_input.onnx')
    with pytest.warns(UserWarning, match='runs hard NMS'):
        export_model(model, cfg, DEPLOY_STATIC, image(128, 128), out)
    det = ORTMaskScoringDetector(out, cfg, DEPLOY_STATIC, num_threads=1)
    check_equal(compare(det, hard_nms_copy(model), image(128, 128, seed=1)))
    import onnx
    graph = onnx.load(out).graph
    # one RoiAlign reads the graph's input image itself: the crop
    aligns = [n.input[0] for n in graph.node if n.op_type == 'RoiAlign']
    assert aligns.count(graph.input[0].name) == 1, aligns


def test_deploy_tool_draws_both_scores(exported, tmp_path):
    tool = load_tool('tools/deployment/deploy.py')
    img_file = str(tmp_path / 'img.png')
    import mmcv
    mmcv.imwrite(image(128, 128, seed=2), img_file)
    out_file = str(tmp_path / 'vis.png')
    results = tool.main([
        DEMO['ms_rcnn'], '--deploy-cfg', DEPLOY_DYNAMIC, '--img', img_file,
        '--onnx', exported['onnx'], '--out', out_file, '--score-thr', '0',
        '--min-side', '0'
    ])
    assert osp.isfile(out_file)
    assert mmcv.imread(out_file).shape[:2] == (128, 128)
    assert {'mask_ious', 'mask_scores', 'scores'} <= set(results.keys())
