"""Tests of the synthetic shapes data set generator."""
import json
import os
import os.path as osp

import numpy as np
import pytest
from pycocotools import mask as mask_util
from pycocotools.coco import COCO

from mmdet_msrcnn.synthetic import (SHAPES_CLASSES, SHAPES_VERSION,
                                    generate_shapes_dataset,
                                    render_shapes_image)

SMALL = dict(num_train=6, num_val=3, img_size=64, seed=0)


def _read_rgb(path):
    """Decode a PNG with mmcv (cv2), independently of our encoder."""
    import mmcv
    img = mmcv.imread(path, flag='color', channel_order='rgb')
    assert img is not None, path
    return img


def _tight_bbox(mask):
    ys, xs = np.nonzero(mask)
    return [
        int(xs.min()),
        int(ys.min()),
        int(xs.max() - xs.min() + 1),
        int(ys.max() - ys.min() + 1)
    ]


@pytest.fixture(scope='module')
def shapes_root(tmp_path_factory):
    out = tmp_path_factory.mktemp('shapes_a')
    info = generate_shapes_dataset(out, **SMALL)
    return out, info


def test_classes_and_returned_paths(shapes_root):
    out, info = shapes_root
    assert len(SHAPES_CLASSES) == 4
    assert len(set(SHAPES_CLASSES)) == 4
    assert info['generated'] is True
    assert info['data_root'] == osp.abspath(str(out))
    for split in ('train', 'val'):
        assert osp.isfile(info['ann_file'][split])
        assert osp.isdir(info['img_dir'][split])
        assert info['ann_file'][split] == osp.join(info['data_root'],
                                                   info['ann_file_rel'][split])
        assert info['num_instances'][split] > 0
    assert sorted(os.listdir(
        info['img_dir']['train'])) == [f'{i:06d}.png' for i in range(6)]
    assert len(os.listdir(info['img_dir']['val'])) == 3
    with open(osp.join(out, 'meta.json')) as f:
        meta = json.load(f)
    assert meta['version'] == SHAPES_VERSION == '1.0'
    assert meta['params'] == SMALL


def test_determinism(shapes_root, tmp_path):
    _, info_a = shapes_root
    info_b = generate_shapes_dataset(tmp_path / 'b', **SMALL)
    for split in ('train', 'val'):
        with open(info_a['ann_file'][split], 'rb') as f:
            json_a = f.read()
        with open(info_b['ann_file'][split], 'rb') as f:
            json_b = f.read()
        assert json_a == json_b
        for name in sorted(os.listdir(info_a['img_dir'][split])):
            img_a = _read_rgb(osp.join(info_a['img_dir'][split], name))
            img_b = _read_rgb(osp.join(info_b['img_dir'][split], name))
            np.testing.assert_array_equal(img_a, img_b)

    # train and val are drawn from different streams
    img_t = _read_rgb(osp.join(info_a['img_dir']['train'], '000000.png'))
    img_v = _read_rgb(osp.join(info_a['img_dir']['val'], '000000.png'))
    assert not np.array_equal(img_t, img_v)

    # a different seed gives a different set
    info_c = generate_shapes_dataset(tmp_path / 'c', **dict(SMALL, seed=1))
    with open(info_c['ann_file']['train'], 'rb') as f:
        json_c = f.read()
    with open(info_a['ann_file']['train'], 'rb') as f:
        assert f.read() != json_c
    img_c = _read_rgb(osp.join(info_c['img_dir']['train'], '000000.png'))
    assert not np.array_equal(img_t, img_c)


@pytest.mark.parametrize('split', ['train', 'val'])
def test_validity(shapes_root, split):
    _, info = shapes_root
    coco = COCO(info['ann_file'][split])
    cat_ids = sorted(coco.getCatIds())
    assert cat_ids == [1, 2, 3, 4]
    assert [c['name'] for c in coco.loadCats(cat_ids)] == list(SHAPES_CLASSES)
    assert coco.dataset['info']['version'] == SHAPES_VERSION
    assert coco.dataset['info']['params'] == SMALL
    assert len(coco.getImgIds()) == SMALL[f'num_{split}']

    size = SMALL['img_size']
    for img_id in coco.getImgIds():
        img_info = coco.loadImgs(img_id)[0]
        assert img_info['height'] == img_info['width'] == size
        img = _read_rgb(
            osp.join(info['img_dir'][split], img_info['file_name']))
        assert img.shape == (size, size, 3)
        assert img.dtype == np.uint8
        anns = coco.loadAnns(coco.getAnnIds(imgIds=img_id))
        assert 1 <= len(anns) <= 7
        union = np.zeros((size, size), dtype=np.int64)
        for ann in anns:
            assert ann['iscrowd'] == 0
            assert ann['category_id'] in cat_ids
            assert isinstance(ann['segmentation']['counts'], str)
            mask = coco.annToMask(ann)
            assert mask.shape == (size, size)
            assert mask.sum() > 0
            assert ann['area'] == int(mask.sum())
            assert ann['bbox'] == _tight_bbox(mask)
            np.testing.assert_allclose(
                mask_util.toBbox(ann['segmentation']), ann['bbox'])
            union += mask
        # visible masks of one image never overlap
        assert union.max() == 1


def test_render_shapes_image_contract():
    rng = np.random.default_rng(123)
    img, masks, labels = render_shapes_image(rng, img_size=48)
    assert img.shape == (48, 48, 3) and img.dtype == np.uint8
    assert masks.dtype == bool and masks.shape[1:] == (48, 48)
    assert labels.shape == (masks.shape[0], ) and labels.dtype == np.int64
    assert masks.shape[0] >= 1
    assert masks.reshape(len(masks), -1).any(1).all()
    assert ((labels >= 0) & (labels < len(SHAPES_CLASSES))).all()


def test_up_to_date_shortcut_and_force(tmp_path):
    params = dict(num_train=2, num_val=1, img_size=32, seed=3)
    first = generate_shapes_dataset(tmp_path, **params)
    assert first['generated'] is True
    ann = first['ann_file']['train']
    png = osp.join(first['img_dir']['train'], '000000.png')
    # push mtimes into the past so that any rewrite is visible
    for path in (ann, png):
        os.utime(path, ns=(1_000_000_000, 1_000_000_000))

    second = generate_shapes_dataset(tmp_path, **params)
    assert second['generated'] is False
    assert os.stat(ann).st_mtime_ns == 1_000_000_000
    assert os.stat(png).st_mtime_ns == 1_000_000_000

    forced = generate_shapes_dataset(tmp_path, force=True, **params)
    assert forced['generated'] is True
    assert os.stat(ann).st_mtime_ns != 1_000_000_000
    assert os.stat(png).st_mtime_ns != 1_000_000_000

    # other parameters: regenerated, and stale images are removed
    fewer = generate_shapes_dataset(tmp_path, **dict(params, num_train=1))
    assert fewer['generated'] is True
    assert os.listdir(fewer['img_dir']['train']) == ['000000.png']
    # an incomplete set (missing image) is regenerated as well
    os.remove(osp.join(fewer['img_dir']['val'], '000000.png'))
    again = generate_shapes_dataset(tmp_path, **dict(params, num_train=1))
    assert again['generated'] is True


def test_mmdet_coco_dataset_loads(shapes_root):
    from mmdet.datasets import CocoDataset
    _, info = shapes_root
    for split in ('train', 'val'):
        dataset = CocoDataset(
            data_root=info['data_root'],
            ann_file=info['ann_file_rel'][split],
            data_prefix=dict(img=f'images/{split}/'),
            metainfo=dict(classes=SHAPES_CLASSES),
            pipeline=[],
            test_mode=False)
        assert len(dataset) == SMALL[f'num_{split}']
        assert dataset.cat_ids == [1, 2, 3, 4]
        item = dataset[0]
        assert osp.isfile(item['img_path'])
        assert len(item['instances']) >= 1
        for inst in item['instances']:
            assert 0 <= inst['bbox_label'] < len(SHAPES_CLASSES)
            x1, y1, x2, y2 = inst['bbox']
            assert x2 > x1 and y2 > y1
