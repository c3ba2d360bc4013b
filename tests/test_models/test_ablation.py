"""Paper ablations: configs, hand-computed targets and the benchmark tools.

Target case used below (16 x 16 image, 4 x 4 mask grid, 2 classes):

* GT 0, class 0: the rectangle x in [0, 8), y in [0, 8) (64 px);
* GT 1, class 1: the rectangle x in [8, 16), y in [0, 8) (64 px).

RoIs (positive, with their assigned GT):

* r0 = [4, 0, 12, 8] -> GT 0. Cells are 2 x 2 px. Class 0 predicted on
  grid columns 0-1 (x in [4, 8), 32 px): IoU with GT 0 = 32 / 64 = 0.5.
  Class 1 predicted on column 2 (x in [8, 10), 16 px): GT 1 lies in the
  RoI (32 px), IoU with GT 1 = 16 / 64 = 0.25.
* r1 = [6, 0, 14, 8] -> GT 1. Class 1 predicted everywhere (64 px):
  inter 48, union 64 + 64 - 48 = 80, IoU 0.6. Class 0 predicted on
  columns 0-1 (x in [6, 10), 32 px): GT 0 lies in the RoI (16 px), inter
  16, union 32 + 64 - 16 = 80, IoU 0.2.
* r2 = [10, 0, 16, 8] -> GT 1. Cells 1.5 x 2 px. Class 1 predicted
  everywhere (48 px, all inside GT 1): IoU 48 / 64 = 0.75. GT 0 has no
  pixel in the RoI: class 0 is not regressed by #3.
"""
import glob
import json
import os.path as osp
import re
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from mmdet.structures.mask import BitmapMasks, mask_target
from mmengine.config import Config, ConfigDict
from mmengine.structures import InstanceData

from helpers import (REPO_ROOT, build_model, demo_batch, load_tool,
                     strip_pretrained)
from mmdet_msrcnn.models import MaskIoUHead

ABLATION_DIR = osp.join(REPO_ROOT, 'configs/ablation')
ABLATION_CONFIGS = sorted(glob.glob(osp.join(ABLATION_DIR, '*.py')))
NUM_CLASSES = 4  # the demo's
FEAT = 64  # the demo's feature channels

# config suffix -> (input_mode, target_mode, iou_thr, first conv inputs,
# MaskIoU RoI feature side)
EXPECTED = {
    'input-multiply': ('multiply', 'gt_class', None, FEAT, 14),
    'input-concat-all-classes':
    ('concat_all_classes', 'gt_class', None, FEAT + NUM_CLASSES, 14),
    'input-hires-feature': ('concat', 'gt_class', None, FEAT + 1, 28),
    'input-mask-only': ('mask_only', 'gt_class', None, 1, 14),
    'input-feature-only': ('feature_only', 'gt_class', None, FEAT, 14),
    'target-all-classes': ('concat', 'all_classes', None, FEAT + 1, 14),
    'target-present-classes':
    ('concat', 'present_classes', None, FEAT + 1, 14),
    'tau-0': ('concat', 'gt_class', 0, FEAT + 1, 14),
    'tau-0.3': ('concat', 'gt_class', 0.3, FEAT + 1, 14),
    'tau-0.5': ('concat', 'gt_class', 0.5, FEAT + 1, 14),
    'tau-0.7': ('concat', 'gt_class', 0.7, FEAT + 1, 14),
}


def _suffix(path):
    return osp.basename(path)[len('ms-rcnn_r18_fpn_shapes_'):-len('.py')]


def test_every_paper_ablation_has_a_config():
    assert sorted(_suffix(p) for p in ABLATION_CONFIGS) == sorted(EXPECTED)


@pytest.mark.parametrize('config', ABLATION_CONFIGS, ids=_suffix)
def test_ablation_config_trains_and_predicts(config):
    input_mode, target_mode, iou_thr, first_in, side = EXPECTED[_suffix(
        config)]
    cfg = Config.fromfile(config)
    strip_pretrained(cfg.model)
    model = build_model(cfg.model)
    head = model.roi_head.mask_iou_head
    assert (head.input_mode, head.target_mode) == (input_mode, target_mode)
    assert head.iou_thr == iou_thr
    assert head.convs[0].in_channels == first_in
    assert head.roi_feat_size == side
    seen = []
    hook = head.register_forward_hook(lambda mod, args, out: seen.append(
        (tuple(args[0].shape), tuple(args[1].shape), tuple(out.shape))))
    try:
        model.train()
        losses = model.loss(*demo_batch(model, NUM_CLASSES, size=64))
        assert torch.isfinite(losses['loss_mask_iou'])
        losses['loss_mask_iou'].backward()
        assert head.convs[0].weight.grad is not None
        model.eval()
        model.test_cfg.rcnn.score_thr = 0.0
        with torch.no_grad():
            results = model.predict(
                *demo_batch(model, NUM_CLASSES, size=64, training=False))
    finally:
        hook.remove()
    mask_channels = NUM_CLASSES if input_mode == 'concat_all_classes' \
        else None
    for feats, masks, out in seen:  # training, then test
        assert feats[1:] == (FEAT, side, side)
        assert out == (feats[0], NUM_CLASSES)
        if mask_channels:
            assert masks[1:] == (mask_channels, 28, 28)
        else:
            assert masks[1:] == (28, 28)
    assert len(seen) == 2
    inst = results[0].pred_instances
    assert inst.mask_ious.shape == inst.scores.shape
    assert len(inst) > 0


# ----------------------------------------------------------------------
# hand-computed targets
def two_gt_case():
    h = w = 16
    masks = np.zeros((2, h, w), dtype=np.uint8)
    masks[0, 0:8, 0:8] = 1
    masks[1, 0:8, 8:16] = 1
    gt = InstanceData()
    gt.masks = BitmapMasks(masks, h, w)
    gt.labels = torch.tensor([0, 1])
    boxes = torch.tensor([[4., 0., 12., 8.], [6., 0., 14., 8.],
                          [10., 0., 16., 8.]])
    res = SimpleNamespace(
        pos_priors=boxes,
        pos_assigned_gt_inds=torch.tensor([0, 1, 1]),
        pos_gt_labels=torch.tensor([0, 1, 1]))
    probs = torch.full((3, 2, 4, 4), 0.1)
    probs[0, 0, :, 0:2] = 0.9
    probs[0, 1, :, 2] = 0.9
    probs[1, 1] = 0.9
    probs[1, 0, :, 0:2] = 0.9
    probs[2, 1] = 0.9
    mask_targets = mask_target([boxes], [res.pos_assigned_gt_inds], [gt.masks],
                               ConfigDict(mask_size=(4, 4)))
    return gt, res, probs, mask_targets


def tiny_head(**kwargs):
    return MaskIoUHead(
        num_classes=2,
        roi_feat_size=2,
        mask_size=4,
        in_channels=4,
        conv_out_channels=4,
        fc_out_channels=8,
        **kwargs)


def _targets(head, gt, res, probs, mask_targets):
    labels = res.pos_gt_labels
    return head.get_targets(
        probs[torch.arange(3), labels],
        mask_targets, [res], [gt],
        0.5,
        all_mask_probs=probs)


def test_case_mask_targets_are_the_hand_ones():
    *_, mask_targets = two_gt_case()
    expected = torch.zeros(3, 4, 4)
    expected[0, :, 0:2] = 1  # GT 0 in r0
    expected[1, :, 1:4] = 1  # GT 1 in r1
    expected[2] = 1  # GT 1 in r2
    assert torch.equal(mask_targets, expected)


@pytest.mark.parametrize('mode', ['gt_class', 'all_classes'])
def test_gt_class_targets_by_hand(mode):
    gt, res, probs, mask_targets = two_gt_case()
    targets = _targets(
        tiny_head(target_mode=mode), gt, res, probs, mask_targets)
    assert torch.allclose(targets, torch.tensor([0.5, 0.6, 0.75]))


def test_present_classes_targets_by_hand():
    gt, res, probs, mask_targets = two_gt_case()
    head = tiny_head(target_mode='present_classes')
    targets = _targets(head, gt, res, probs, mask_targets)
    expected = torch.tensor([[0.5, 0.25], [0.2, 0.6], [-1., 0.75]])
    assert torch.allclose(targets, expected)
    with pytest.raises(ValueError, match='all_mask_probs'):
        head.get_targets(probs[:, 0], mask_targets, [res], [gt])


def test_losses_of_the_three_target_modes_by_hand():
    gt, res, probs, mask_targets = two_gt_case()
    preds = torch.tensor([[0.4, 0.3], [0.1, 0.5], [0.2, 0.7]])
    labels = res.pos_gt_labels
    gt_sq = (0.4 - 0.5)**2 + (0.5 - 0.6)**2 + (0.7 - 0.75)**2
    expected = {
        # 3 pairs: the ground-truth class of each RoI
        'gt_class': gt_sq / 3,
        # 6 pairs: the other class has target 0
        'all_classes': (gt_sq + 0.3**2 + 0.1**2 + 0.2**2) / 6,
        # 5 pairs: r2 has no class-0 instance inside it
        'present_classes': (gt_sq + (0.3 - 0.25)**2 + (0.1 - 0.2)**2) / 5,
    }
    for mode, value in expected.items():
        head = tiny_head(target_mode=mode)
        targets = _targets(head, gt, res, probs, mask_targets)
        loss = head.loss(preds, targets, labels)['loss_mask_iou']
        assert loss.item() == pytest.approx(value), mode
    # tau: RoIs whose ground-truth class target is <= 0.55 drop out with
    # all their pairs (r0, target 0.5)
    head = tiny_head(target_mode='present_classes', iou_thr=0.55)
    targets = _targets(head, gt, res, probs, mask_targets)
    loss = head.loss(preds, targets, labels)['loss_mask_iou']
    expected = ((0.5 - 0.6)**2 + (0.1 - 0.2)**2 + (0.7 - 0.75)**2) / 3
    assert loss.item() == pytest.approx(expected)


def test_present_classes_picks_the_largest_instance_in_the_roi():
    h = w = 16
    masks = np.zeros((3, h, w), dtype=np.uint8)
    masks[0, 0:4, 0:4] = 1  # class 0, 16 px inside the RoI
    masks[1, 0:16, 4:8] = 1  # class 0, 32 px inside (64 in all)
    masks[2, 0:8, 8:16] = 1  # class 1, the RoI's own instance
    gt = InstanceData()
    gt.masks = BitmapMasks(masks, h, w)
    gt.labels = torch.tensor([0, 0, 1])
    # one RoI, cells 4 x 2 px; class 0 predicted on column 1 = x in [4, 8)
    res = SimpleNamespace(
        pos_priors=torch.tensor([[0., 0., 16., 8.]]),
        pos_assigned_gt_inds=torch.tensor([2]),
        pos_gt_labels=torch.tensor([1]))
    probs = torch.zeros(1, 2, 4, 4)
    probs[0, 0, :, 1] = 1
    probs[0, 1, :, 2:] = 1
    mask_targets = mask_target([res.pos_priors], [res.pos_assigned_gt_inds],
                               [gt.masks], ConfigDict(mask_size=(4, 4)))
    head = tiny_head(target_mode='present_classes')
    targets = head.get_targets(
        probs[:, 1], mask_targets, [res], [gt], all_mask_probs=probs)
    # class 0 vs instance 1 (not 0): 32 / 64; class 1: exactly GT 2
    assert torch.allclose(targets, torch.tensor([[0.5, 1.0]]))
    # a class-agnostic mask head: the one mask is scored for both classes
    targets = head.get_targets(
        probs[:, 1], mask_targets, [res], [gt], all_mask_probs=probs[:, 1:])
    assert torch.allclose(targets, torch.tensor([[0.0, 1.0]]))


def test_present_classes_without_other_instances():
    gt, res, probs, mask_targets = two_gt_case()
    gt = gt[[0]]  # only class 0
    res = SimpleNamespace(
        pos_priors=res.pos_priors[:1],
        pos_assigned_gt_inds=torch.tensor([0]),
        pos_gt_labels=torch.tensor([0]))
    head = tiny_head(target_mode='present_classes')
    targets = head.get_targets(
        probs[:1, 0], mask_targets[:1], [res], [gt], all_mask_probs=probs[:1])
    assert torch.allclose(targets, torch.tensor([[0.5, -1.0]]))


# ----------------------------------------------------------------------
# MaskQualityMetric with more than 100 instances per image
def test_mask_quality_max_dets_counts_crowded_images():
    from pycocotools.coco import COCO

    from mmdet_msrcnn.evaluation import (coco_segm_stats, coco_stat_names,
                                         encode_masks)
    num, side = 150, 8
    masks = np.zeros((num, 120, 160), dtype=np.uint8)
    for i in range(num):
        y, x = divmod(i, 15)
        masks[i, y * 12:y * 12 + side, x * 10:x * 10 + side] = 1
    rles = encode_masks(masks)
    coco = COCO()
    coco.dataset = dict(
        images=[dict(id=1, width=160, height=120)],
        categories=[dict(id=1, name='nucleus')],
        annotations=[
            dict(
                id=i + 1,
                image_id=1,
                category_id=1,
                segmentation=rle,
                area=float(side * side),
                bbox=[0, 0, side, side],
                iscrowd=0) for i, rle in enumerate(rles)
        ])
    coco.createIndex()
    records = dict(
        img_id=np.ones(num, dtype=np.int64),
        category_id=np.ones(num, dtype=np.int64),
        rles=rles)
    scores = np.linspace(1, 0.5, num)
    default, _ = coco_segm_stats(coco, records, scores)
    assert default[0] < 0.7  # only the top 100 of 150 count
    crowded, text = coco_segm_stats(
        coco, records, scores, max_dets=(100, 300, 1000))
    assert crowded[0] == pytest.approx(1.0)
    assert crowded[1] == pytest.approx(1.0)
    assert 'maxDets=1000' in text
    assert coco_stat_names(
        (100, 300, 1000))[6:9] == ('AR@100', 'AR@300', 'AR@1000')


def test_mask_quality_records_with_more_than_255_detections():
    from pycocotools.coco import COCO

    from mmdet_msrcnn.evaluation import build_records, encode_masks
    num = 300  # pycocotools' area() overflows from 256 RLEs at once
    masks = np.zeros((num, 20, 20), dtype=np.uint8)
    for i in range(num):
        masks[i, :1 + i % 20, :1 + i // 20] = 1
    coco = COCO()
    coco.dataset = dict(
        images=[dict(id=1, width=20, height=20)],
        categories=[dict(id=1, name='nucleus')],
        annotations=[
            dict(
                id=1,
                image_id=1,
                category_id=1,
                segmentation=encode_masks(masks[:1])[0],
                area=1.,
                bbox=[0, 0, 1, 1],
                iscrowd=0)
        ])
    coco.createIndex()
    result = dict(
        img_id=1,
        scores=np.full(num, 0.9),
        labels=np.zeros(num, dtype=np.int64),
        masks=encode_masks(masks),
        mask_ious=None,
        mask_scores=None)
    records = build_records(coco, [result], [1])
    assert np.array_equal(records['area'], masks.sum((1, 2)))
    assert records['true_iou'][0] == 1.0


# ----------------------------------------------------------------------
# benchmark tools
def _tool(name):
    return load_tool(f'tools/benchmark/{name}.py')


def test_ablation_dry_run_lists_every_config(tmp_path, capsys):
    ablation = _tool('ablation')
    ablation.main(['--dry-run', '--work-dir', str(tmp_path)])
    out = capsys.readouterr().out
    for config in ABLATION_CONFIGS:
        assert osp.basename(config)[:-3] + ':' in out
    md = (tmp_path / 'ablation_results.md').read_text()
    assert ('| (d) target mask, concat 28x28 RoI feature | - | - | - | - | - '
            '| - |') in md
    assert 'Table 5' in md and 'Table 6' in md


def test_ablation_smoke_run_fills_its_row(tmp_path):
    ablation = _tool('ablation')
    config = osp.join(ABLATION_DIR, 'ms-rcnn_r18_fpn_shapes_tau-0.5.py')
    out_md = tmp_path / 'tables.md'
    results = ablation.main([
        '--configs', config, '--epochs', '1', '--num-train', '4', '--num-val',
        '2', '--work-dir',
        str(tmp_path), '--out-md',
        str(out_md)
    ])
    row = results['ms-rcnn_r18_fpn_shapes_tau-0.5']
    assert row['epochs'] == 1 and row['num_train'] == 4
    assert osp.exists(tmp_path / 'ms-rcnn_r18_fpn_shapes_tau-0.5' /
                      'metrics.json')
    md = out_md.read_text()
    assert re.search(
        r'\| tau = 0\.5 \| \d+\.\d \| \d+\.\d \| \d+\.\d \| '
        r'[+-]\d+\.\d \| [+-]\d+\.\d \| (-|-?\d\.\d{3}) \|', md), md


def test_ablation_frozen_upgrade_keeps_every_detection(tmp_path):
    """--upgrade-from: the scorer trains on a frozen detector, so the
    masks ranked by the class score are the detector's own (same AP)."""
    ablation = _tool('ablation')
    small = ['--epochs', '1', '--num-train', '4', '--num-val', '4']
    detector = osp.join(REPO_ROOT, 'configs/demo/mask-rcnn_r18_fpn_shapes.py')
    base = ablation.main(['--configs', detector, '--work-dir',
                          str(tmp_path / 'det')] + small)
    ckpt = tmp_path / 'det' / 'mask-rcnn_r18_fpn_shapes' / 'epoch_1.pth'
    assert ckpt.exists()
    upgrade = osp.join(
        REPO_ROOT, 'configs/upgrade/ms-rcnn_r18_fpn_shapes_frozen-upgrade.py')
    results = ablation.main(['--configs', upgrade, '--work-dir',
                             str(tmp_path / 'up'), '--upgrade-from',
                             str(ckpt)] + small)
    row = results['ms-rcnn_r18_fpn_shapes_frozen-upgrade']
    assert row['extra'] == dict(upgrade_from=str(ckpt))
    det = base['mask-rcnn_r18_fpn_shapes']['metrics']
    up = row['metrics']
    assert up['coco/bbox_mAP'] == det['coco/bbox_mAP']
    assert up['mask_quality/score_segm_mAP'] == pytest.approx(
        det['mask_quality/segm_mAP'])
    with pytest.raises(SystemExit, match='no such checkpoint'):
        ablation.main(['--configs', upgrade, '--work-dir',
                       str(tmp_path / 'up2'), '--upgrade-from',
                       str(tmp_path / 'missing.pth')] + small)


def test_ablation_report_only_tabulates_what_exists(tmp_path):
    ablation = _tool('ablation')
    name = 'ms-rcnn_r18_fpn_shapes_tau-0.5'
    metrics = {
        'mask_quality/segm_mAP': 0.25,
        'mask_quality/segm_mAP_50': 0.5,
        'mask_quality/segm_mAP_75': 0.125,
        'mask_quality/score_segm_mAP': 0.24,
        'mask_quality/score_segm_mAP_75': 0.1,
        'mask_quality/pearson_iou_hits': 0.5,
    }
    row = dict(name=name, metrics=metrics, seed=0, epochs=6, num_train=None,
               num_val=None)
    (tmp_path / name).mkdir()
    (tmp_path / name / 'metrics.json').write_text(json.dumps(row))
    # another seed's run does not fit and is not reused
    other = 'ms-rcnn_r18_fpn_shapes_tau-0.7'
    (tmp_path / other).mkdir()
    (tmp_path / other / 'metrics.json').write_text(
        json.dumps(dict(row, name=other, seed=1)))
    results = ablation.main([
        '--report-only', '--epochs', '6', '--work-dir',
        str(tmp_path)
    ])
    assert results[name]['metrics'] == metrics
    assert results[other] is None
    assert sum(r is not None for r in results.values()) == 1
    md = (tmp_path / 'ablation_results.md').read_text()
    assert '| tau = 0.5 | 25.0 | 50.0 | 12.5 | +1.0 | +2.5 | 0.500 |' in md
    assert '| tau = 0.7 | - | - | - | - | - | - |' in md
    assert '6 epochs; "-": not measured' in md
    # nothing was trained: no run folder besides the two written here
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == [
        name, other]


def test_ablation_rescoring_cells_by_hand():
    ablation = _tool('ablation')
    metrics = {
        'mask_quality/segm_mAP': 0.136,
        'mask_quality/score_segm_mAP': 0.126,
        'mask_quality/segm_mAP_75': 0.078,
        'mask_quality/score_segm_mAP_75': 0.0895,
        'mask_quality/pearson_iou_hits': 0.4476,
    }
    # 13.6 - 12.6 = +1.0; 7.8 - 8.95 = -1.15 (-1.1499.. in floats) -> -1.1
    assert ablation.rescoring_cells(metrics) == ['+1.0', '-1.1', '0.448']
    assert ablation.rescoring_cells({}) == ['-', '-', '-']


def test_nuclei_table_has_every_column_and_seed_means():
    nuclei = _tool('nuclei')
    metrics = {key: 0.5 for _, key, _, _ in nuclei.COLUMNS}
    runs = [
        dict(model='MS R-CNN', seed=0, metrics=dict(metrics)),
        dict(
            model='MS R-CNN',
            seed=1,
            metrics=dict(metrics, **{'mask_quality/segm_mAP': 0.3})),
    ]
    text, md = nuclei.build_table(runs)
    header = md.splitlines()[2]
    for column, *_ in nuclei.COLUMNS:
        assert column in header
    assert '| MS R-CNN | mean of 2 | 50.0 ± 0.0 | 40.0 ± 10.0 |' in md
    assert 'mean of 2' in text


def test_demo_compare_smoke_runs_mmdet_builtin_and_ours(tmp_path):
    """mmdet's own MS R-CNN goes through the same training and metrics."""
    compare = _tool('demo_compare')
    runs = compare.main([
        '--seeds', '3', '--models', '1', '2', '--epochs', '1', '--num-train',
        '4', '--num-val', '2', '--work-dir',
        str(tmp_path)
    ])
    assert [(r['model'], r['seed'], r['epochs']) for r in runs] == [
        ('mmdet MS R-CNN', 3, 1), ('ours MS R-CNN', 3, 1)]
    for r in runs:
        assert 0 <= r['metrics']['mask_quality/segm_mAP'] <= 1
        assert osp.exists(r['metrics_file'])
    md = (tmp_path / 'demo_compare.md').read_text()
    assert re.search(r'\| mmdet MS R-CNN \| 3 \| \d+\.\d \|', md), md
    assert re.search(r'\| ours MS R-CNN \| 3 \| \d+\.\d \|', md), md
    assert 'AP in %, 1 epochs, seeds 3.' in md
    assert md.rstrip().endswith('Smoke run: 4 training images.')


# ----------------------------------------------------------------------
# nuclei configs (1 class: mmdet's demo_mm_inputs needs 2 or more)
NUCLEI_CONFIGS = sorted(glob.glob(osp.join(REPO_ROOT, 'configs/nuclei/*.py')))


def one_class_batch(model, size=64, training=True):
    """``demo_batch`` with every label 0 (``demo_mm_inputs`` draws labels
    in ``[1, num_classes)``, so it is asked for 2 classes)."""
    from mmdet.testing import demo_mm_inputs
    torch.manual_seed(0)
    packed = demo_mm_inputs(
        batch_size=1,
        image_shapes=[(3, size, size)],
        num_items=[3],
        num_classes=2,
        with_mask=True)
    for sample in packed['data_samples']:
        sample.gt_instances.labels = torch.zeros_like(
            sample.gt_instances.labels)
    data = model.data_preprocessor(packed, training)
    return data['inputs'], data['data_samples']


@pytest.mark.parametrize('config', NUCLEI_CONFIGS, ids=osp.basename)
def test_nuclei_config_trains_and_predicts(config):
    cfg = Config.fromfile(config)
    assert cfg.model.test_cfg.rcnn.max_per_img >= 375
    assert cfg.model.test_cfg.rpn.max_per_img >= \
        cfg.model.test_cfg.rcnn.max_per_img
    quality = [
        e for e in cfg.test_evaluator
        if e['type'].endswith('MaskQualityMetric')
    ]
    assert quality[0]['max_dets'][-1] >= 400
    strip_pretrained(cfg.model)
    model = build_model(cfg.model)
    model.train()
    losses = model.loss(*one_class_batch(model))
    total = sum(v.sum() if isinstance(v, torch.Tensor) else sum(v)
                for k, v in losses.items() if 'loss' in k)
    assert torch.isfinite(total)
    total.backward()
    scored = 'mask_iou_head' in cfg.model.roi_head
    assert ('loss_mask_iou' in losses) == scored
    model.eval()
    model.test_cfg.rcnn.score_thr = 0.0
    with torch.no_grad():
        results = model.predict(*one_class_batch(model, training=False))
    inst = results[0].pred_instances
    assert len(inst) > 100  # more than the usual 100 detections per image
    assert (inst.labels == 0).all()
    assert inst.masks.shape[1:] == (64, 64)
    if scored and cfg.model.roi_head.type.startswith('mmdet_msrcnn.'):
        assert inst.mask_ious.shape == inst.scores.shape
    elif scored:  # mmdet's own MS R-CNN: the mask score is in `scores`
        assert 'mask_ious' not in inst


def test_ranking_fits_the_power_on_training_images(tmp_path):
    """tools/benchmark/ranking.py on a tiny trained MS R-CNN: both fits,
    the val runs of power 1 and of the fitted powers, and the spread of the
    predicted MaskIoU over exactly the val detections above 0.05."""
    ablation = _tool('ablation')
    ranking = load_tool('tools/benchmark/ranking.py')
    config = osp.join(REPO_ROOT, 'configs/demo/ms-rcnn_r18_fpn_shapes.py')
    ablation.main(['--configs', config, '--epochs', '1', '--num-train', '4',
                   '--num-val', '2', '--work-dir', str(tmp_path)])
    rows = ranking.main(['--configs', config, '--work-dir', str(tmp_path),
                         '--num-fit', '4', '--num-val', '4',
                         '--ap-powers', '1', '2'])
    fit = rows[0]['fit']
    assert set(fit['train_ap']) == {'1.0', '2.0'}
    assert fit['power_ap'] in (1.0, 2.0)
    best = max(fit['train_ap'].values())
    assert fit['train_ap'][str(fit['power_ap'])] == best
    val = rows[0]['val']
    assert set(val) == {'1.0', str(fit['power']), str(fit['power_ap'])}
    # the powers reorder the same masks: cls-ranked and oracle APs agree
    for m in val.values():
        assert m['score_segm_mAP'] == val['1.0']['score_segm_mAP']
        assert m['oracle_segm_mAP'] == val['1.0']['oracle_segm_mAP']
    spread = rows[0]['val_spread']
    assert int(np.sum(spread['count'])) == val['1.0']['num_dets']


def test_a_saved_run_is_reused_only_with_the_same_extra(tmp_path):
    """reusable_run: a frozen upgrade's row is not reused for another
    detector (or for a plain run), nor a plain row for an upgrade."""
    from types import SimpleNamespace

    from msrcnn_benchmark.runs import reusable_run
    args = SimpleNamespace(skip_existing=True, num_train=None, num_val=None,
                           epochs=None)
    path = tmp_path / 'metrics.json'
    path.write_text(json.dumps(dict(seed=0, num_train=None, num_val=None,
                                    extra=dict(upgrade_from='a.pth'))))
    assert reusable_run(str(path), args, 0, dict(upgrade_from='a.pth'))
    assert reusable_run(str(path), args, 0, dict(upgrade_from='b.pth')) \
        is None
    assert reusable_run(str(path), args, 0) is None
    path.write_text(json.dumps(dict(seed=0, num_train=None, num_val=None)))
    assert reusable_run(str(path), args, 0) is not None  # no extra: {}
    assert reusable_run(str(path), args, 0, dict(upgrade_from='a.pth')) \
        is None
