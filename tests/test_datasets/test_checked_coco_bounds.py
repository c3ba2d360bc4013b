"""CheckedCocoDataset against hostile input (issue "Claims that hold under a
hostile user").

Each probe of the issue gets a test that failed before the checks: huge or
non-finite coordinates, RLE runs that do not fit the image, category ids
the model has no label for, empty splits, and missing or truncated images.
Hand-made COCO files in tmp_path: 32 x 32 images, a valid square instance
(id 1) next to the annotation under test (id 2).
"""
import copy
import json
import re
import warnings

import mmcv
import numpy as np
import pytest
from pycocotools import mask as mask_util

from helpers import checked_coco_dataset

from mmdet_msrcnn.datasets import checked_coco
from mmdet_msrcnn.datasets.checked_coco import (InvalidAnnotationWarning,
                                                OtherCategoryWarning)

H = W = 32
CLASSES = ('ellipse', 'ring', 'star', 'crescent')
SQUARE = [[4., 4., 14., 4., 14., 14., 4., 14.]]  # 10 x 10 polygon
NAN, INF = float('nan'), float('inf')


def ann(ann_id, segmentation=None, bbox=(4, 4, 10, 10), area=100.0, **extra):
    out = dict(
        id=ann_id,
        image_id=1,
        category_id=1,
        iscrowd=0,
        bbox=list(bbox),
        area=area,
        segmentation=copy.deepcopy(SQUARE)
        if segmentation is None else segmentation)
    out.update(extra)
    return out


def coco(annotations, num_images=1, categories=None):
    return dict(
        images=[
            dict(id=i + 1, file_name=f'{i:06d}.png', height=H, width=W)
            for i in range(num_images)
        ],
        annotations=annotations,
        categories=categories
        or [dict(id=i + 1, name=name) for i, name in enumerate(CLASSES)])


def write_set(root, content, num_images=None):
    """Write ``content`` as annotations.json and the images it names."""
    (root / 'images').mkdir(parents=True, exist_ok=True)
    if num_images is None:
        num_images = len(content['images'])
    rng = np.random.default_rng(0)
    for i in range(num_images):  # noise: a PNG that is not tiny
        mmcv.imwrite(
            rng.integers(0, 256, (H, W, 3), dtype=np.uint8),
            str(root / 'images' / f'{i:06d}.png'))
    path = root / 'annotations.json'
    # json.dumps writes NaN / Infinity, which json.load (pycocotools) reads
    path.write_text(json.dumps(content))
    return path


def dataset(root, pipeline=(), **kwargs):
    return checked_coco_dataset(root, CLASSES, pipeline, **kwargs)


def assert_rejected(root, bad, reason):
    """``bad`` raises with 'error' and is skipped and counted with 'skip'."""
    write_set(root, coco([ann(1), bad]))
    with pytest.raises(
            ValueError,
            match=rf"1 invalid annotation.*annotations.json: 1 "
            rf"{re.escape(checked_coco.INVALID_REASONS[reason][:20])}.*"
            rf"id=2 \(image 1, {reason}\).*invalid_masks='skip'"):
        dataset(root, invalid_masks='error')
    with pytest.warns(InvalidAnnotationWarning) as record:
        ds = dataset(root)
    assert len(record) == 1
    message = str(record[0].message)
    assert 'skipped 1 invalid annotation' in message
    assert f'id=2 (image 1, {reason})' in message
    assert ds.invalid_annotations == [dict(id=2, image_id=1, reason=reason)]
    assert len(ds[0]['instances']) == 1  # the valid one stays


def accepted(root, good):
    write_set(root, coco([ann(1), good]))
    with warnings.catch_warnings():
        warnings.simplefilter('error', InvalidAnnotationWarning)
        ds = dataset(root, invalid_masks='error')
    return ds


# ----------------------------------------------------------------------
# coordinates
@pytest.mark.parametrize(
    'value', [1e9, 1e38, 3.5e38, -1e9, 10**30],
    ids=['1e9', '1e38', '3.5e38', '-1e9', '1e30-int'])
def test_polygon_with_a_huge_coordinate(tmp_path, value):
    """Before: ``invalid_annotations == []``, then pycocotools rasterised
    an edge of that length (17 GB and killed, or a crash)."""
    poly = [[4., 4., value, 4., 14., 14., 4., 14.]]
    assert_rejected(tmp_path, ann(2, poly), 'coords_out_of_bounds')


@pytest.mark.parametrize(
    'value', [NAN, INF, -INF, 10**400, 'a', None],
    ids=['nan', 'inf', '-inf', '1e400-int', 'str', 'None'])
def test_polygon_with_a_nonfinite_coordinate(tmp_path, value):
    poly = [[4., 4., 14., value, 14., 14., 4., 14.]]
    assert_rejected(tmp_path, ann(2, poly), 'nonfinite_coords')


def test_polygon_of_nested_points(tmp_path):
    poly = [[[4., 4.], [14., 4.], [14., 14.], [4., 14.]]]
    assert_rejected(tmp_path, ann(2, poly), 'nonfinite_coords')


@pytest.mark.parametrize('bbox', [(NAN, 4, 10, 10), (4, 4, INF, 10),
                                  (4, 4, 10, '10')])
def test_bbox_with_a_nonfinite_value(tmp_path, bbox):
    """Before: reported as a zero-area bbox, or (a string) a crash."""
    assert_rejected(tmp_path, ann(2, bbox=bbox), 'nonfinite_coords')


def test_nonfinite_area(tmp_path):
    assert_rejected(tmp_path, ann(2, area=NAN), 'nonfinite_coords')


@pytest.mark.parametrize('bbox', [(4, 4, 1e9, 10), (-1e9, 4, 1e9, 10),
                                  (4, 4, 10, 3.5e38), (1e38, 1e38, 5, 5)])
def test_bbox_far_outside_the_image(tmp_path, bbox):
    """Before: accepted (a box of 1e9 px into the regression targets)."""
    assert_rejected(tmp_path, ann(2, bbox=bbox), 'coords_out_of_bounds')


def test_polygon_cut_by_the_border_is_kept(tmp_path):
    """Moderately outside (up to one image size) stays valid."""
    poly = [[-10., 4., 10., 4., 10., 14., -10., 14.]]
    at_margin = [[-W, -H, 2. * W, -H, 2. * W, 2. * H, -W, 2. * H]]
    write_set(
        tmp_path,
        coco([
            ann(1),
            ann(2, poly, bbox=(0, 4, 10, 10)),
            ann(3, at_margin, bbox=(0, 0, W, H), area=W * H * 9.)
        ]))
    with warnings.catch_warnings():
        warnings.simplefilter('error', InvalidAnnotationWarning)
        ds = dataset(
            tmp_path,
            invalid_masks='error',
            test_mode=False,
            pipeline=[
                dict(type='LoadImageFromFile'),
                dict(type='LoadAnnotations', with_bbox=True, with_mask=True)
            ])
    masks = ds[0]['gt_masks']
    assert masks.masks.shape == (3, H, W)
    assert masks.areas.tolist() == [100, 100, H * W]


def test_polygon_with_no_pixel_in_the_image(tmp_path):
    """Within the margin, but all outside: an empty mask once rasterised."""
    poly = [[40., 40., 60., 40., 60., 60., 40., 60.]]
    assert_rejected(tmp_path, ann(2, poly), 'empty_mask')


# ----------------------------------------------------------------------
# RLE runs
def rle_string(mask):
    enc = mask_util.encode(np.asfortranarray(mask.astype(np.uint8)))
    return enc['counts'].decode('ascii')


@pytest.mark.parametrize(
    'counts',
    [
        [0, 50000000],  # more runs than pixels: 'Invalid RLE' when decoded
        [0, 500],  # fewer: pixels left uninitialised by pycocotools
        [0, -1, 1025],
    ])
def test_uncompressed_rle_runs_that_do_not_fit(tmp_path, counts):
    bad = ann(2, dict(counts=counts, size=[H, W]), iscrowd=1)
    assert_rejected(tmp_path, bad, 'bad_rle')


@pytest.mark.parametrize(
    'counts',
    [
        rle_string(np.ones((2 * H, W), bool)),  # runs of a 64 x 32 mask
        rle_string(np.ones(
            (H, W), bool))[:-1] + '\x7f',  # outside the alphabet
        rle_string(np.ones((H, W), bool)) + 'o',  # a number cut at the end
    ])
def test_compressed_rle_runs_that_do_not_fit(tmp_path, counts):
    assert_rejected(tmp_path, ann(2, dict(counts=counts, size=[H, W])),
                    'bad_rle')


def test_rle_string_counts_match_pycocotools():
    rng = np.random.default_rng(0)
    for _ in range(50):
        h, w = rng.integers(1, 80, 2)
        mask = rng.random((h, w)) < rng.random()
        enc = mask_util.encode(np.asfortranarray(mask.astype(np.uint8)))
        runs = checked_coco._rle_string_counts(enc['counts'])
        assert runs.sum() == h * w and runs[1::2].sum() == mask.sum()
        again = mask_util.frPyObjects(
            dict(counts=runs.tolist(), size=[int(h), int(w)]), int(h), int(w))
        assert again['counts'] == enc['counts']


# ----------------------------------------------------------------------
# categories and labels
def test_category_not_in_the_classes(tmp_path):
    """Before: dropped silently (and with classes that outnumber the
    model's num_classes, an IndexError in the mask loss)."""
    cats = coco([])['categories'] + [dict(id=7, name='triangle')]
    write_set(tmp_path, coco([ann(1), ann(2, category_id=7)], categories=cats))
    with pytest.raises(
            ValueError,
            match=r"1 annotation\(s\) of .*annotations.json have a category "
            r"that is not in metainfo\['classes'\] \('ellipse', 'ring', "
            r"'star', 'crescent'\): id 7 \('triangle', 1 annotation\(s\)\)"
            r".*metainfo=dict\(classes=...\).*num_classes"
            r".*other_categories='skip'"):
        dataset(tmp_path)
    with pytest.warns(
            OtherCategoryWarning,
            match=r"skipped 1 annotation.*"
            r"id 7 \('triangle'"):
        ds = dataset(tmp_path, other_categories='skip')
    assert len(ds[0]['instances']) == 1


def test_category_id_not_in_the_file(tmp_path):
    write_set(tmp_path, coco([ann(1), ann(2, category_id=99)]))
    with pytest.raises(
            ValueError,
            match=r'id 99 \(not in the categories of the file, 1 '
            r'annotation'):
        dataset(tmp_path)


def test_default_classes_of_another_data_set(tmp_path):
    """metainfo forgotten: mmdet's 80 COCO classes match no category."""
    write_set(tmp_path, coco([ann(1), ann(2, category_id=3)]))
    with pytest.raises(
            ValueError,
            match=r"2 annotation\(s\).*\('person', 'bicycle', .*\(80 "
            r"names\)\): id 1 \('ellipse', 1 annotation\(s\)\), id 3 "
            r"\('star'"):
        dataset(tmp_path, metainfo=None)


def test_more_classes_than_num_classes(tmp_path):
    """The model's heads have 3 outputs; label 3 would be out of range."""
    write_set(tmp_path, coco([ann(1, category_id=4)]))
    with pytest.raises(
            ValueError,
            match=r"metainfo\['classes'\] has 4 names .*labels 0..3, but "
            r'num_classes=3.*IndexError.*to 4'):
        dataset(tmp_path, num_classes=3)
    ds = dataset(tmp_path, num_classes=4)
    assert ds[0]['instances'][0]['bbox_label'] == 3


def test_categories_with_the_same_name(tmp_path):
    """mmdet labels every category named in classes: 5 labels for 4."""
    cats = coco([])['categories'] + [dict(id=5, name='ellipse')]
    content = coco([ann(1), ann(2, category_id=5)], categories=cats)
    write_set(tmp_path, content)
    from mmdet.datasets import CocoDataset
    plain = CocoDataset(
        data_root=str(tmp_path),
        ann_file='annotations.json',
        data_prefix=dict(img='images/'),
        metainfo=dict(classes=CLASSES),
        pipeline=[],
        test_mode=True)
    labels = [i['bbox_label'] for i in plain[0]['instances']]
    assert max(labels) == len(CLASSES)  # what reached the model before
    with pytest.raises(
            ValueError,
            match=r"same name \('ellipse': ids \[1, 5\]\).*labels 0..4 for "
            r'4 classes.*own name'):
        dataset(tmp_path)


@pytest.mark.parametrize('kwargs, match', [
    (dict(other_categories='drop'), "other_categories='drop'"),
    (dict(num_classes=0), 'num_classes=0'),
    (dict(num_classes=2.5), 'num_classes=2.5'),
])
def test_bad_arguments(tmp_path, kwargs, match):
    write_set(tmp_path, coco([ann(1)]))
    with pytest.raises(ValueError, match=match):
        dataset(tmp_path, **kwargs)


@pytest.mark.parametrize(
    'change',
    [dict(height=0),
     dict(width=None),
     dict(height=NAN),
     dict(width=32.5)])
def test_image_without_a_usable_size(tmp_path, change):
    content = coco([ann(1)])
    content['images'][0].update(change)
    write_set(tmp_path, content)
    with pytest.raises(
            ValueError,
            match=r'image id 1 \(000000.png\) in .*annotations.json has '
            r'height=.*positive integers'):
        dataset(tmp_path)


# ----------------------------------------------------------------------
# empty splits
@pytest.mark.parametrize('test_mode', [False, True])
def test_split_without_images(tmp_path, test_mode):
    """Before: ``ValueError: need at least one array to concatenate``."""
    write_set(tmp_path, coco([], num_images=0))
    with pytest.raises(
            ValueError,
            match=r"annotations.json has no image \(its 'images' list is "
            r'empty\).*need at least one array.*Point ann_file'):
        dataset(tmp_path, test_mode=test_mode)


def test_train_split_without_annotated_image(tmp_path):
    """filter_empty_gt drops every image. Before: ``need at least one array
    to concatenate``."""
    write_set(tmp_path, coco([], num_images=2))
    with pytest.raises(
            ValueError,
            match=r'no image of .*annotations.json is left for training by '
            r"filter_cfg=.*: of its 2 image\(s\), 2 have no usable "
            r"annotation of the classes \('ellipse', .*\) \(filter_empty_gt"
            r'=True drops them\); 0 annotation\(s\) in the json.*'
            r'test_mode=True'):
        dataset(
            tmp_path,
            test_mode=False,
            filter_cfg=dict(filter_empty_gt=True, min_size=8))
    # without the filter, a training split with nothing to learn
    with pytest.raises(
            ValueError,
            match=r'training split .*annotations.json \(2 image\(s\)\) has '
            r'nothing to learn'):
        dataset(tmp_path, test_mode=False)
    assert len(dataset(tmp_path, test_mode=True)) == 2  # unlabeled: fine


def test_train_split_of_images_under_min_size(tmp_path):
    write_set(tmp_path, coco([ann(1)], num_images=2))
    with pytest.raises(
            ValueError,
            match=r'of its 2 image\(s\), 1 have no usable annotation.*'
            r'and 2 with a side under min_size=64; 1 annotation\(s\) in '
            r'the json'):
        dataset(
            tmp_path,
            test_mode=False,
            filter_cfg=dict(filter_empty_gt=True, min_size=64))


def test_train_split_whose_annotations_were_all_skipped(tmp_path):
    write_set(tmp_path, coco([ann(1, [])]))
    with pytest.warns(InvalidAnnotationWarning), pytest.raises(
            ValueError,
            match=r'1 annotation\(s\) in the json \(1 skipped as invalid\)'):
        dataset(
            tmp_path, test_mode=False, filter_cfg=dict(filter_empty_gt=True))


def test_filter_empty_gt_drops_images_emptied_by_the_checks(tmp_path):
    write_set(tmp_path, coco([ann(1), ann(2, [], image_id=2)], num_images=3))
    with pytest.warns(InvalidAnnotationWarning):
        ds = dataset(
            tmp_path, test_mode=False, filter_cfg=dict(filter_empty_gt=True))
    assert [d['img_id'] for d in ds] == [1]
    with pytest.warns(InvalidAnnotationWarning):
        assert len(dataset(tmp_path, test_mode=False)) == 3


# ----------------------------------------------------------------------
# images
def truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])


@pytest.fixture
def logs(monkeypatch):
    lines = []
    monkeypatch.setattr(checked_coco, 'print_log',
                        lambda msg, **kwargs: lines.append(msg))
    return lines


def test_truncated_png(tmp_path, logs):
    """Before: found only by LoadImageFromFile, once training runs."""
    write_set(tmp_path, coco([ann(1)], num_images=3))
    truncate(tmp_path / 'images' / '000001.png')
    assert len(dataset(tmp_path)) == 3  # verify_images=False: not checked
    with pytest.raises(
            ValueError,
            match=r'1 of 3 image\(s\) of .*annotations.json cannot be used: '
            r'.*images/000001.png \(truncated or corrupt: OSError: image '
            r'file is truncated.*verify_images=False'):
        dataset(tmp_path, verify_images=True)
    assert len(logs) == 1
    assert 'verified 3 image(s) of' in logs[0]
    assert ' s (verify_images=True); 1 bad' in logs[0]


def test_truncation_found_when_pil_is_told_to_accept_it(tmp_path, logs):
    from PIL import ImageFile
    write_set(tmp_path, coco([ann(1)], num_images=2))
    truncate(tmp_path / 'images' / '000001.png')
    ImageFile.LOAD_TRUNCATED_IMAGES = True
    try:
        with pytest.raises(ValueError, match='truncated or corrupt'):
            dataset(tmp_path, verify_images=True)
        assert ImageFile.LOAD_TRUNCATED_IMAGES is True  # restored
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = False


def test_missing_and_corrupt_images(tmp_path, logs):
    write_set(tmp_path, coco([ann(1)], num_images=4))
    (tmp_path / 'images' / '000001.png').unlink()
    (tmp_path / 'images' / '000002.png').write_bytes(b'not an image')
    assert len(dataset(tmp_path)) == 4  # verify_images=False: not checked
    with pytest.raises(
            ValueError,
            match=r'2 of 4 image\(s\).*images/000001.png \(missing\), '
            r'.*images/000002.png \(truncated or corrupt: '
            r'UnidentifiedImageError'):
        dataset(tmp_path, verify_images=True)


def test_image_of_another_size_than_the_json(tmp_path, logs):
    write_set(tmp_path, coco([ann(1)], num_images=2))
    mmcv.imwrite(
        np.zeros((48, 64, 3), np.uint8),
        str(tmp_path / 'images' / '000001.png'))
    with pytest.raises(
            ValueError,
            match=r'000001.png \(64 x 48 px, but the annotation file says '
            r'32 x 32 \(width x height\)\)'):
        dataset(tmp_path, verify_images=True)


def test_verified_set_loads(tmp_path, logs):
    write_set(tmp_path, coco([ann(1)], num_images=2))
    ds = dataset(tmp_path, verify_images=True, test_mode=False)
    assert len(ds) == 2
    assert 'verified 2 image(s)' in logs[0] and '0 bad' in logs[0]
