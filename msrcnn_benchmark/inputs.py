"""Random inputs of the speed benchmark: images, ground truth, RoIs."""
import math
from types import SimpleNamespace

import numpy as np
import torch

from .detectors import num_classes_of

#: positive RoIs per image at most (sampler num 512 x pos_fraction 0.25)
POS_PER_IMAGE = 128


def random_polygons(rng, num, height, width):
    """COCO-like star-shaped polygons of log-uniform size, and their boxes.

    Args:
        rng (np.random.RandomState): The random state.
        num (int): Number of polygons.
        height (int): Image height.
        width (int): Image width.

    Returns:
        tuple[list, np.ndarray]: Polygons (one ring each, as
        ``PolygonMasks`` takes them) and their (num, 4) boxes.
    """
    polys, boxes = [], []
    r_max = max(4.0, 0.3 * min(height, width))
    for _ in range(num):
        radius = math.exp(rng.uniform(math.log(4.0), math.log(r_max)))
        cx = rng.uniform(0, width)
        cy = rng.uniform(0, height)
        npts = rng.randint(12, 33)
        ang = np.sort(rng.uniform(0, 2 * np.pi, npts))
        rad = radius * rng.uniform(0.6, 1.0, npts)
        aspect = math.sqrt(rng.uniform(0.5, 2.0))
        xs = np.clip(cx + rad * np.cos(ang) * aspect, 0, width)
        ys = np.clip(cy + rad * np.sin(ang) / aspect, 0, height)
        if xs.max() - xs.min() < 2 or ys.max() - ys.min() < 2:
            xs = np.clip(
                np.array([cx - 3, cx + 3, cx + 3, cx - 3]), 0, width - 1e-3)
            ys = np.clip(
                np.array([cy - 3, cy - 3, cy + 3, cy + 3]), 0, height - 1e-3)
            xs[1:3] = xs[0] + 6
            ys[2:] = ys[0] + 6
        polys.append([np.stack([xs, ys], 1).reshape(-1)])
        boxes.append([xs.min(), ys.min(), xs.max(), ys.max()])
    return polys, np.asarray(boxes, dtype=np.float32).reshape(-1, 4)


def to_bitmap(polygons):
    """Bitmaps as the COCO pipeline holds them: C-contiguous uint8.

    (``PolygonMasks.to_bitmap`` gives pycocotools' column-major bool
    arrays; ``LoadAnnotations`` + ``Resize`` give contiguous uint8 ones.)
    """
    from mmdet.structures.mask import BitmapMasks
    return BitmapMasks(
        np.ascontiguousarray(polygons.to_ndarray(), dtype=np.uint8),
        polygons.height, polygons.width)


def make_batch(model, batch_size, size, num_gt, seed, training):
    """Preprocessed random images with COCO-like bitmap ground truth.

    Args:
        model (nn.Module): The detector (its data preprocessor and number
            of classes).
        batch_size (int): Images in the batch.
        size (tuple[int, int]): Image height and width.
        num_gt (int): Ground-truth instances per image.
        seed (int): Seeds pixels and ground truth.
        training (bool): Preprocess for training.

    Returns:
        tuple: ``inputs`` and ``data_samples`` of the preprocessor.
    """
    from mmdet.structures import DetDataSample
    from mmdet.structures.mask import PolygonMasks
    from mmengine.structures import InstanceData
    rng = np.random.RandomState(seed)
    height, width = size
    inputs, samples = [], []
    for i in range(batch_size):
        inputs.append(
            torch.from_numpy(
                rng.randint(0, 256, (3, height, width), dtype=np.uint8)))
        sample = DetDataSample(
            metainfo=dict(
                img_id=i,
                img_path=f'<random {i}>',
                img_shape=(height, width),
                ori_shape=(height, width),
                scale_factor=(1.0, 1.0),
                flip=False,
                flip_direction=None))
        polys, boxes = random_polygons(rng, num_gt, height, width)
        gt = InstanceData()
        gt.bboxes = torch.from_numpy(boxes)
        gt.labels = torch.from_numpy(
            rng.randint(0, num_classes_of(model), num_gt)).long()
        gt.masks = to_bitmap(PolygonMasks(polys, height, width))
        sample.gt_instances = gt
        samples.append(sample)
    data = model.data_preprocessor(
        dict(inputs=inputs, data_samples=samples), training)
    return data['inputs'], data['data_samples']


def single_image_batches(models, args) -> dict:
    """One inference-mode image per model (same pixels and ground truth).

    Args:
        models (dict[str, nn.Module]): The models, by name.
        args (Namespace): ``size``, ``num_gt`` and ``seed`` of the run.

    Returns:
        dict[str, tuple]: Model name -> its preprocessed batch of one image.
    """
    return {
        name: make_batch(m, 1, args.size, args.num_gt, args.seed + 1, False)
        for name, m in models.items()
    }


def target_case(num_rois, kind, size, num_gt, seed, device):
    """Positive RoIs and ground truth for the MaskIoU target benchmark.

    The RoIs are jittered ground-truth boxes, at most
    :data:`POS_PER_IMAGE` per image, as in training.

    Args:
        num_rois (int): Positive RoIs in all.
        kind (str): ``'bitmap'`` or ``'polygon'`` ground truth.
        size (tuple[int, int]): Image height and width.
        num_gt (int): Ground-truth instances per image.
        seed (int): Seeds everything.
        device (torch.device): Where the tensors go.

    Returns:
        dict: ``logits`` and ``probs`` (num_rois, 28, 28) of the target
        class, binary ``mask_targets``, ``sampling_results`` (with
        ``pos_priors`` and ``pos_assigned_gt_inds``) and ``gts``
        (``InstanceData`` with ``masks``), per image.
    """
    from mmdet.structures.mask import PolygonMasks
    from mmengine.structures import InstanceData
    rng = np.random.RandomState(seed)
    height, width = size
    num_imgs = max(1, math.ceil(num_rois / POS_PER_IMAGE))
    per_img = [num_rois // num_imgs] * num_imgs
    per_img[-1] += num_rois - sum(per_img)
    sampling_results, gts = [], []
    for num in per_img:
        polys, boxes = random_polygons(rng, num_gt, height, width)
        masks = PolygonMasks(polys, height, width)
        if kind == 'bitmap':
            masks = to_bitmap(masks)
        inds = rng.randint(0, num_gt, num)
        box = boxes[inds]
        wh = np.tile(box[:, 2:] - box[:, :2], 2)
        box = box + rng.uniform(-0.2, 0.2, box.shape) * wh
        box[:, 2:] = np.maximum(box[:, 2:], box[:, :2] + 1)
        sampling_results.append(
            SimpleNamespace(
                pos_priors=torch.from_numpy(box).float().to(device),
                pos_assigned_gt_inds=torch.from_numpy(inds).long().to(device)))
        gts.append(InstanceData(masks=masks))
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(num_rois, 28, 28, generator=gen).to(device)
    mask_targets = (torch.rand(num_rois, 28, 28, generator=gen)
                    > 0.5).float().to(device)
    return dict(
        logits=logits,
        probs=logits.sigmoid(),
        mask_targets=mask_targets,
        sampling_results=sampling_results,
        gts=gts)
