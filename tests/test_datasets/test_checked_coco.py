"""CheckedCocoDataset: early, clear dataset errors (bullet 2).

Hand-made COCO files in tmp_path: one 32 x 32 image with a valid square
instance (id 1) next to the annotation under test (id 2).
"""
import copy
import json
import warnings

import mmcv
import numpy as np
import pytest
import torch
from pycocotools import mask as mask_util

from helpers import build_model, checked_coco_dataset, tiny_model_cfg

from mmdet_msrcnn.datasets import CheckedCocoDataset, InvalidAnnotationWarning
from mmdet_msrcnn.registry import DATASETS

# one intra-op thread, as every test that runs a training (tests/conftest.py)
pytestmark = pytest.mark.usefixtures('one_thread')

H = W = 32
CLASSES = ('ellipse', 'ring', 'star', 'crescent')
SQUARE = [[4., 4., 14., 4., 14., 14., 4., 14.]]  # 10 x 10 polygon


def rle(mask):
    enc = mask_util.encode(np.asfortranarray(mask.astype(np.uint8)))
    enc['counts'] = enc['counts'].decode('ascii')
    return enc


def ann(ann_id, segmentation, bbox=(4, 4, 10, 10), area=100.0, **extra):
    out = dict(
        id=ann_id,
        image_id=1,
        category_id=1,
        iscrowd=0,
        bbox=list(bbox),
        area=area,
        segmentation=segmentation)
    out.update(extra)
    return out


def coco(annotations, num_images=1):
    return dict(
        images=[
            dict(id=i + 1, file_name=f'{i:06d}.png', height=H, width=W)
            for i in range(num_images)
        ],
        annotations=annotations,
        categories=[
            dict(id=i + 1, name=name) for i, name in enumerate(CLASSES)
        ])


def write_set(root, content, num_images=1):
    """Write ``content`` as annotations.json and the images it names."""
    (root / 'images').mkdir(parents=True, exist_ok=True)
    for i in range(num_images):
        mmcv.imwrite(
            np.full((H, W, 3), 128, np.uint8),
            str(root / 'images' / f'{i:06d}.png'))
    path = root / 'annotations.json'
    path.write_text(
        content if isinstance(content, str) else json.dumps(content))
    return path


def dataset(root, pipeline=(), **kwargs):
    return checked_coco_dataset(root, CLASSES, pipeline, **kwargs)


def test_registered_and_a_coco_dataset():
    from mmdet.datasets import CocoDataset
    assert DATASETS.get('mmdet_msrcnn.CheckedCocoDataset') is \
        CheckedCocoDataset
    assert issubclass(CheckedCocoDataset, CocoDataset)


def test_valid_set_loads(tmp_path):
    write_set(tmp_path, coco([ann(1, SQUARE)]))
    with warnings.catch_warnings():
        warnings.simplefilter('error', InvalidAnnotationWarning)
        ds = dataset(tmp_path)
    assert len(ds) == 1 and len(ds[0]['instances']) == 1


# ----------------------------------------------------------------------
# files
def test_missing_annotation_file(tmp_path):
    write_set(tmp_path, coco([]))
    with pytest.raises(
            FileNotFoundError,
            match=r'annotation file .*nope.json does not exist'
            r'.*data_root / ann_file'):
        dataset(tmp_path, ann_file='nope.json')


def test_missing_image_folder(tmp_path):
    write_set(tmp_path, coco([]))
    with pytest.raises(
            FileNotFoundError, match=r'image folder .*train2017.*data_prefix'):
        dataset(tmp_path, data_prefix=dict(img='train2017/'))


def test_image_folder_of_another_split(tmp_path):
    write_set(tmp_path, coco([ann(1, SQUARE)]))
    (tmp_path / 'val').mkdir()
    with pytest.raises(
            FileNotFoundError,
            match=r'first image .*000000.png.*data_prefix.img'):
        dataset(tmp_path, data_prefix=dict(img='val/'))


@pytest.mark.parametrize('missing', ['images', 'annotations', 'categories'])
def test_json_without_coco_key(tmp_path, missing):
    content = coco([ann(1, SQUARE)])
    del content[missing]
    write_set(tmp_path, content)
    with pytest.raises(
            ValueError, match=rf"not a COCO instances file.*\['{missing}'\]"):
        dataset(tmp_path)


@pytest.mark.parametrize('content, match', [
    ('{"images": [', 'not valid JSON'),
    ('[1, 2, 3]', 'is not COCO'),
])
def test_not_coco_at_all(tmp_path, content, match):
    write_set(tmp_path, content)
    with pytest.raises(ValueError, match=match):
        dataset(tmp_path)


def test_unknown_invalid_masks_value(tmp_path):
    write_set(tmp_path, coco([]))
    with pytest.raises(ValueError, match="invalid_masks='drop'"):
        dataset(tmp_path, invalid_masks='drop')


# ----------------------------------------------------------------------
# invalid annotations
def one_pixel_gone():
    return rle(np.zeros((H, W), bool))


INVALID = {
    'missing segmentation': (dict(segmentation=None), 'empty_mask'),
    'empty polygon list': (dict(segmentation=[]), 'empty_mask'),
    'empty RLE counts':
    (dict(segmentation=dict(counts='', size=[H, W])), 'empty_mask'),
    'RLE without foreground':
    (dict(segmentation=one_pixel_gone()), 'empty_mask'),
    'uncompressed RLE without foreground':
    (dict(segmentation=dict(counts=[H * W], size=[H, W])), 'empty_mask'),
    'RLE of another size':
    (dict(segmentation=dict(rle(np.ones((8, 8), bool)))), 'bad_rle'),
    'polygon with 2 points': (dict(segmentation=[[4., 4., 9., 9.]]),
                              'short_polygon'),
    'polygon with 1 point': (dict(segmentation=[[4., 4.]]), 'short_polygon'),
    'collinear polygon': (dict(segmentation=[[4., 4., 8., 8., 12., 12.]]),
                          'empty_mask'),
    'zero-width bbox': (dict(bbox=[4, 4, 0, 10]), 'zero_area_bbox'),
    'zero area': (dict(area=0), 'zero_area_bbox'),
    'bbox outside the image': (dict(bbox=[40, 40, 5, 5]), 'zero_area_bbox'),
}


def with_invalid(kind):
    change, reason = INVALID[kind]
    bad = ann(2, SQUARE)
    bad.update(copy.deepcopy(change))
    return coco([ann(1, SQUARE), bad]), reason


@pytest.mark.parametrize('kind', sorted(INVALID))
def test_invalid_annotation_error_mode(tmp_path, kind):
    content, reason = with_invalid(kind)
    write_set(tmp_path, content)
    with pytest.raises(
            ValueError,
            match=rf"1 invalid annotation.*id=2 \(image 1, "
            rf"{reason}\).*invalid_masks='skip'"):
        dataset(tmp_path, invalid_masks='error')


@pytest.mark.parametrize('kind', sorted(INVALID))
def test_invalid_annotation_skip_mode(tmp_path, kind):
    content, reason = with_invalid(kind)
    write_set(tmp_path, content)
    with pytest.warns(InvalidAnnotationWarning) as record:
        ds = dataset(tmp_path)
    assert len(record) == 1
    assert 'skipped 1 invalid annotation' in str(record[0].message)
    assert ds.invalid_annotations == [dict(id=2, image_id=1, reason=reason)]
    assert len(ds[0]['instances']) == 1  # the valid one stays


def test_skip_warns_once_with_the_count(tmp_path):
    bad = []
    for i, kind in enumerate(sorted(INVALID)):
        a, _ = with_invalid(kind)
        item = a['annotations'][1]
        item.update(id=10 + i, image_id=1 + i % 3)
        bad.append(item)
    write_set(tmp_path, coco([ann(1, SQUARE)] + bad, num_images=3), 3)
    with pytest.warns(InvalidAnnotationWarning) as record:
        ds = dataset(tmp_path)
    assert len(record) == 1
    assert f'skipped {len(INVALID)} invalid annotation' in str(
        record[0].message)
    assert len(ds) == 3
    assert sum(len(d['instances']) for d in ds) == 1


def test_ignored_and_other_class_annotations_are_not_checked(tmp_path):
    """Other categories are refused by default (see
    test_checked_coco_bounds.py); with other_categories='skip' they are
    counted there, not as invalid masks."""
    write_set(
        tmp_path,
        coco([
            ann(1, SQUARE),
            ann(2, [], ignore=True),
            ann(3, [], category_id=99),
        ]))
    from mmdet_msrcnn.datasets.checked_coco import OtherCategoryWarning
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter('always')
        ds = dataset(tmp_path, other_categories='skip')
    assert [w.category for w in record] == [OtherCategoryWarning]
    assert ds.invalid_annotations == []
    assert len(ds[0]['instances']) == 1


def test_partly_short_polygon_is_kept(tmp_path):
    """A valid part next to a 2-point part: LoadAnnotations drops the
    short part."""
    write_set(tmp_path, coco([ann(1, SQUARE + [[20., 20., 25., 25.]])]))
    with warnings.catch_warnings():
        warnings.simplefilter('error', InvalidAnnotationWarning)
        ds = dataset(tmp_path)
    assert len(ds[0]['instances']) == 1


TRAIN_PIPELINE = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='Resize', scale=(64, 64), keep_ratio=True),
    dict(type='PackDetInputs')
]


@pytest.mark.parametrize('poly2mask', [True, False])
def test_skipped_set_trains_without_crash(tmp_path, poly2mask):
    """Every kind of invalid annotation, then the pipeline and a loss."""
    bad = []
    for i, kind in enumerate(sorted(INVALID)):
        a, _ = with_invalid(kind)
        bad.append(dict(a['annotations'][1], id=10 + i))
    crowd = ann(
        3,
        rle(np.pad(np.ones((6, 6), bool), ((20, 6), (20, 6)))),
        bbox=(20, 20, 6, 6),
        area=36.0,
        iscrowd=1)
    write_set(tmp_path, coco([ann(1, SQUARE), crowd] + bad))
    pipeline = copy.deepcopy(TRAIN_PIPELINE)
    pipeline[1]['poly2mask'] = poly2mask
    with pytest.warns(InvalidAnnotationWarning):
        ds = dataset(tmp_path, pipeline=pipeline, test_mode=False)
    item = ds[0]
    gt = item['data_samples'].gt_instances
    assert len(gt) == 1 and gt.masks.areas[0] > 0
    assert len(item['data_samples'].ignored_instances) == 1  # the crowd

    model = build_model(tiny_model_cfg())
    model.train()
    data = model.data_preprocessor(
        dict(inputs=[item['inputs']], data_samples=[item['data_samples']]),
        True)
    losses = model.loss(data['inputs'], data['data_samples'])
    for key, value in losses.items():
        value = value if isinstance(value, torch.Tensor) else sum(value)
        assert torch.isfinite(value).all(), key
