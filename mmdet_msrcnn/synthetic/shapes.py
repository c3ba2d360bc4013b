"""A small, deterministic, synthetic instance-segmentation set ("shapes").

The generator draws textured shapes on a textured background and writes a
COCO-format data set::

    <out_dir>/images/train/000000.png ...   RGB uint8, (H, W, 3)
    <out_dir>/images/val/000000.png ...
    <out_dir>/annotations/instances_train.json
    <out_dir>/annotations/instances_val.json
    <out_dir>/meta.json                     version + generation parameters

Four classes, chosen so that many instances have an easy box but a hard
mask:

* ``ellipse``: convex, the easy class.
* ``ring``: an (elliptical) annulus; the hole belongs to whatever lies below.
* ``star``: 4-8 thin, pointed arms.
* ``crescent``: a disk minus an offset disk, strongly concave.

Objects are drawn in order, later ones on top. The mask of an instance is
what stays visible (its full shape minus the shapes drawn above it). A
candidate whose visible part is smaller than a minimum area, or than 30 % of
its in-image area, is not drawn at all, so every drawn object is annotated.

Rasterisation uses numpy only (pixel-centre grids and inequalities) and PNGs
are written by a tiny zlib encoder (:mod:`mmdet_msrcnn.synthetic.png`), so
the same seed gives pixel-identical images and byte-identical json on any
machine with the same numpy.
"""
import json
import os
import os.path as osp
import re

import numpy as np
from pycocotools import mask as mask_util

from .png import write_png

__all__ = [
    'SHAPES_VERSION', 'SHAPES_CLASSES', 'SHAPES_PALETTE',
    'generate_shapes_dataset', 'render_shapes_image'
]

#: Version of the generator; stored in ``meta.json`` and the json ``info``.
#: Bump it whenever the output for a given seed changes.
SHAPES_VERSION = '1.0'

#: Class names, in category-id order (category id ``k + 1``).
SHAPES_CLASSES = ('ellipse', 'ring', 'star', 'crescent')

#: One RGB color per class, for visualisation (mmdet ``metainfo['palette']``).
SHAPES_PALETTE = [(220, 20, 60), (0, 130, 200), (255, 190, 0), (60, 180, 75)]

SPLITS = ('train', 'val')
_SPLIT_IDS = {'train': 0, 'val': 1}

# Geometry, in pixels at the reference image size of 128 px; everything is
# scaled with ``img_size / 128``.
_REF_SIZE = 128
_MIN_DIAMETER = 10.0
_MAX_DIAMETER = 60.0
_MIN_VISIBLE_AREA = 20
_MIN_VISIBLE_FRACTION = 0.3
_MIN_INSTANCES = 2
_MAX_INSTANCES = 7

_IMG_NAME = re.compile(r'^\d{6}\.png$')


# --------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------
def _interp_matrix(n_out, n_cells):
    """Bilinear interpolation weights from a coarse grid to pixels.

    Args:
        n_out (int): Number of output pixels along the axis.
        n_cells (int): Number of coarse cells; the grid has ``n_cells + 1``
            nodes.

    Returns:
        np.ndarray: Weights of shape (n_out, n_cells + 1), rows sum to 1.
    """
    pos = (np.arange(n_out) + 0.5) * (n_cells / n_out)
    i0 = np.minimum(np.floor(pos).astype(np.int64), n_cells - 1)
    frac = pos - i0
    mat = np.zeros((n_out, n_cells + 1))
    rows = np.arange(n_out)
    mat[rows, i0] = 1.0 - frac
    mat[rows, i0 + 1] = frac
    return mat


def _smooth_noise(rng, h, w, cells):
    """Low-frequency noise: a coarse gaussian grid, bilinearly upsampled.

    Args:
        rng (np.random.Generator): Random source.
        h (int): Output height.
        w (int): Output width.
        cells (int): Coarse cells along each axis (higher = finer noise).

    Returns:
        np.ndarray: Float array of shape (h, w), roughly in [-2, 2].
    """
    grid = rng.standard_normal((cells + 1, cells + 1))
    return _interp_matrix(h, cells) @ grid @ _interp_matrix(w, cells).T


def _write_json_atomic(path, obj):
    """Write ``obj`` as compact json through a temporary file."""
    tmp = path + '.tmp'
    with open(tmp, 'w') as f:
        json.dump(obj, f, separators=(',', ':'))
    os.replace(tmp, path)


# --------------------------------------------------------------------------
# Shapes
# --------------------------------------------------------------------------
def _shape_mask(kind, params, u, v):
    """Inside test for one shape in its own (rotated, centred) frame.

    Args:
        kind (int): Class index into :data:`SHAPES_CLASSES`.
        params (dict): Shape parameters in pixels (see :func:`_sample_shape`).
        u (np.ndarray): Local x coordinates of pixel centres, shape (h, w).
        v (np.ndarray): Local y coordinates of pixel centres, shape (h, w).

    Returns:
        np.ndarray: Boolean mask of shape (h, w).
    """
    name = SHAPES_CLASSES[kind]
    if name == 'ellipse':
        return (u / params['a'])**2 + (v / params['b'])**2 <= 1.0
    if name == 'ring':
        a, b = params['a'], params['b']
        rho = (u / a)**2 + (v / b)**2
        return (rho <= 1.0) & (rho > params['inner']**2)
    if name == 'star':
        # Fold every point into the half sector [0, pi / n] and test it
        # against the edge from the tip (r_out, 0) to the notch.
        n, r_out, r_in = params['points'], params['r_out'], params['r_in']
        half = np.pi / n
        rho = np.hypot(u, v)
        phi = np.mod(np.arctan2(v, u), 2 * half)
        phi = np.minimum(phi, 2 * half - phi)
        x, y = rho * np.cos(phi), rho * np.sin(phi)
        nx, ny = r_in * np.cos(half), r_in * np.sin(half)
        # Origin side of the line tip -> notch (cross product sign).
        cross = (nx - r_out) * y - ny * (x - r_out)
        return cross >= 0
    if name == 'crescent':
        r, r2, d = params['r'], params['r2'], params['d']
        return (u**2 + v**2 <= r**2) & ((u - d)**2 + v**2 > r2**2)
    raise ValueError(f'unknown shape {name}')


def _sample_shape(rng, kind, diameter):
    """Draw the parameters of one shape.

    Args:
        rng (np.random.Generator): Random source.
        kind (int): Class index into :data:`SHAPES_CLASSES`.
        diameter (float): Outer size of the shape in pixels.

    Returns:
        dict: Shape parameters in pixels; ``'radius'`` bounds the shape.
    """
    r = diameter / 2.0
    name = SHAPES_CLASSES[kind]
    if name == 'ellipse':
        params = dict(a=r, b=r * rng.uniform(0.35, 1.0))
    elif name == 'ring':
        params = dict(
            a=r, b=r * rng.uniform(0.7, 1.0), inner=rng.uniform(0.45, 0.75))
    elif name == 'star':
        params = dict(
            points=int(rng.integers(4, 9)),
            r_out=r,
            r_in=r * rng.uniform(0.22, 0.45))
    else:  # crescent
        params = dict(
            r=r, r2=r * rng.uniform(0.75, 1.0), d=r * rng.uniform(0.35, 0.7))
    params['radius'] = r
    return params


def _rasterize(kind, params, cx, cy, angle, img_size):
    """Rasterise a shape into a full-image boolean mask.

    Args:
        kind (int): Class index.
        params (dict): Shape parameters from :func:`_sample_shape`.
        cx (float): Centre x in pixels.
        cy (float): Centre y in pixels.
        angle (float): Rotation in radians.
        img_size (int): Image height and width.

    Returns:
        tuple[np.ndarray, tuple[slice, slice], np.ndarray, np.ndarray]:
        The (img_size, img_size) mask, the window that holds the shape and
        the local coordinates ``u``, ``v`` of that window.
    """
    r = params['radius'] + 1.0
    x0, x1 = max(int(np.floor(cx - r)), 0), min(int(np.ceil(cx + r)), img_size)
    y0, y1 = max(int(np.floor(cy - r)), 0), min(int(np.ceil(cy + r)), img_size)
    mask = np.zeros((img_size, img_size), dtype=bool)
    window = (slice(y0, max(y1, y0)), slice(x0, max(x1, x0)))
    xs = np.arange(x0, max(x1, x0)) + 0.5 - cx
    ys = np.arange(y0, max(y1, y0)) + 0.5 - cy
    dx, dy = np.meshgrid(xs, ys)
    cos, sin = np.cos(angle), np.sin(angle)
    u = dx * cos + dy * sin
    v = -dx * sin + dy * cos
    if u.size:
        mask[window] = _shape_mask(kind, params, u, v)
    return mask, window, u, v


# --------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------
def _background(rng, img_size):
    """Gradient plus low-frequency texture, float RGB of shape (S, S, 3)."""
    c0 = rng.uniform(20, 235, size=3)
    c1 = rng.uniform(20, 235, size=3)
    theta = rng.uniform(0, 2 * np.pi)
    coords = (np.arange(img_size) + 0.5) / img_size - 0.5
    xx, yy = np.meshgrid(coords, coords)
    t = np.clip(0.5 + xx * np.cos(theta) + yy * np.sin(theta), 0, 1)
    img = c0 + (c1 - c0) * t[..., None]
    tex = _smooth_noise(rng, img_size, img_size, int(rng.integers(3, 9)))
    img += rng.uniform(8, 25) * tex[..., None] * rng.uniform(0.6, 1.0, size=3)
    if rng.random() < 0.5:  # faint background stripes as a distractor
        phi = rng.uniform(0, np.pi)
        period = rng.uniform(6, 20) * img_size / _REF_SIZE
        wave = np.sin(2 * np.pi * (xx * np.cos(phi) + yy * np.sin(phi)) *
                      img_size / period)
        img += rng.uniform(5, 15) * wave[..., None]
    return img


def _object_pixels(rng, base_color, u, v, radius, scale):
    """Colored, textured fill of one object over its window.

    Args:
        rng (np.random.Generator): Random source.
        base_color (np.ndarray): RGB of shape (3, ).
        u (np.ndarray): Local x coordinates, shape (h, w).
        v (np.ndarray): Local y coordinates, shape (h, w).
        radius (float): Object radius in pixels.
        scale (float): ``img_size / 128``.

    Returns:
        np.ndarray: Float RGB of shape (h, w, 3).
    """
    texture = int(rng.integers(0, 3))
    h, w = u.shape
    if texture == 0:  # stripes at their own orientation
        phi = rng.uniform(0, np.pi)
        period = rng.uniform(3, 9) * scale
        field = np.sin(2 * np.pi *
                       (u * np.cos(phi) + v * np.sin(phi)) / period +
                       rng.uniform(0, 2 * np.pi))
        amp = rng.uniform(0.15, 0.35)
    elif texture == 1:  # blotchy noise
        field = _smooth_noise(rng, h, w, int(rng.integers(2, 6))) * 0.5
        amp = rng.uniform(0.15, 0.35)
    else:  # shading gradient
        phi = rng.uniform(0, 2 * np.pi)
        field = (u * np.cos(phi) + v * np.sin(phi)) / max(radius, 1.0)
        amp = rng.uniform(0.15, 0.4)
    return base_color * (1.0 + amp * field)[..., None]


def render_shapes_image(rng, img_size=128):
    """Render one image and the visible masks of its instances.

    Args:
        rng (np.random.Generator): Random source; the output is a pure
            function of its state.
        img_size (int): Height and width of the square image in pixels.

    Returns:
        tuple[np.ndarray, np.ndarray, np.ndarray]:

        - img: RGB image of shape (S, S, 3), dtype uint8.
        - masks: Visible masks of shape (N, S, S), dtype bool, bottom to
          top, each with at least one pixel (N >= 1).
        - labels: Class indices into :data:`SHAPES_CLASSES`, shape (N, ),
          dtype int64.
    """
    scale = img_size / _REF_SIZE
    min_area = max(4, int(round(_MIN_VISIBLE_AREA * scale * scale)))
    img = _background(rng, img_size)
    bg_mean = img.reshape(-1, 3).mean(0)

    target = int(rng.integers(_MIN_INSTANCES, _MAX_INSTANCES + 1))
    # Candidates are placed from the top down: each new one goes *below*
    # all accepted ones, so its visible mask is final when it is tested.
    accepted = []
    covered = np.zeros((img_size, img_size), dtype=bool)
    tries = 0
    # A few tries per wanted instance; keep going (bounded) while the image
    # is still empty so that every image has at least one instance.
    while len(accepted) < target and (tries < 4 * target or
                                      (not accepted and tries < 200)):
        tries += 1
        kind = int(rng.integers(len(SHAPES_CLASSES)))
        diameter = np.exp(
            rng.uniform(np.log(_MIN_DIAMETER), np.log(_MAX_DIAMETER))) * scale
        params = _sample_shape(rng, kind, diameter)
        margin = 0.25 * diameter
        cx = rng.uniform(margin, img_size - margin)
        cy = rng.uniform(margin, img_size - margin)
        angle = rng.uniform(0, 2 * np.pi)
        # The color is drawn before the visibility test, so every try
        # consumes the same number of draws whether it is kept or not.
        color = rng.uniform(25, 230, size=3)
        if np.linalg.norm(color - bg_mean) < 60:
            color = np.where(bg_mean > 128, color * 0.45,
                             255 - (255 - color) * 0.45)
        full, window, u, v = _rasterize(kind, params, cx, cy, angle, img_size)
        visible = full & ~covered
        n_full, n_vis = int(full.sum()), int(visible.sum())
        if n_vis < min_area or n_vis < _MIN_VISIBLE_FRACTION * n_full:
            continue
        covered |= full
        accepted.append(
            (kind, full, visible, window, u, v, color, params['radius']))

    accepted.reverse()  # paint bottom first
    for _, full, _, window, u, v, color, radius in accepted:
        pix = _object_pixels(rng, color, u, v, radius, scale)
        local = full[window]
        img[window][local] = pix[local]

    sigma = rng.uniform(3, 10)
    img = img + sigma * rng.standard_normal(img.shape)
    img = np.clip(np.rint(img), 0, 255).astype(np.uint8)

    if accepted:
        masks = np.stack([a[2] for a in accepted])
    else:
        masks = np.zeros((0, img_size, img_size), dtype=bool)
    labels = np.array([a[0] for a in accepted], dtype=np.int64)
    return img, masks, labels


# --------------------------------------------------------------------------
# Data set writer
# --------------------------------------------------------------------------
def _mask_annotation(mask):
    """COCO fields of a binary mask.

    Args:
        mask (np.ndarray): Boolean mask of shape (H, W), non-empty.

    Returns:
        dict: ``segmentation`` (compressed RLE, str counts), ``bbox``
        ([x, y, w, h], tight around the mask) and ``area`` (pixel count).
    """
    rle = mask_util.encode(np.asfortranarray(mask.astype(np.uint8)))
    rle['counts'] = rle['counts'].decode('ascii')
    ys = np.flatnonzero(mask.any(axis=1))
    xs = np.flatnonzero(mask.any(axis=0))
    x0, y0 = int(xs[0]), int(ys[0])
    bbox = [x0, y0, int(xs[-1]) - x0 + 1, int(ys[-1]) - y0 + 1]
    return dict(segmentation=rle, bbox=bbox, area=int(mask.sum()))


def _image_rng(seed, split, index):
    """Independent generator for one image of one split."""
    return np.random.default_rng([int(seed), _SPLIT_IDS[split], int(index)])


def _write_split(out_dir, split, num_images, img_size, seed, params):
    """Render one split and write its PNGs and annotation json.

    Args:
        out_dir (str): Data root.
        split (str): ``'train'`` or ``'val'``.
        num_images (int): Number of images.
        img_size (int): Image size in pixels.
        seed (int): Global seed.
        params (dict): Generation parameters for the json ``info`` block.

    Returns:
        int: Number of annotations written.
    """
    img_dir = osp.join(out_dir, 'images', split)
    os.makedirs(img_dir, exist_ok=True)
    for name in os.listdir(img_dir):  # stale images of an older version
        if _IMG_NAME.match(name):
            os.remove(osp.join(img_dir, name))

    images, annotations = [], []
    for index in range(num_images):
        img, masks, labels = render_shapes_image(
            _image_rng(seed, split, index), img_size)
        file_name = f'{index:06d}.png'
        write_png(osp.join(img_dir, file_name), img)
        image_id = index + 1
        images.append(
            dict(
                id=image_id,
                file_name=file_name,
                height=img_size,
                width=img_size))
        for mask, label in zip(masks, labels):
            ann = dict(
                id=len(annotations) + 1,
                image_id=image_id,
                category_id=int(label) + 1,
                iscrowd=0)
            ann.update(_mask_annotation(mask))
            annotations.append(ann)

    coco = dict(
        info=dict(
            description='Synthetic shapes instance segmentation '
            '(mmdet_msrcnn)',
            version=SHAPES_VERSION,
            split=split,
            params=params),
        licenses=[],
        images=images,
        annotations=annotations,
        categories=[
            dict(id=i + 1, name=name, supercategory='shape')
            for i, name in enumerate(SHAPES_CLASSES)
        ])
    ann_dir = osp.join(out_dir, 'annotations')
    os.makedirs(ann_dir, exist_ok=True)
    _write_json_atomic(osp.join(ann_dir, f'instances_{split}.json'), coco)
    return len(annotations)


def _is_current(out_dir, meta, counts):
    """Whether ``out_dir`` holds a complete set made with ``meta``."""
    meta_file = osp.join(out_dir, 'meta.json')
    if not osp.isfile(meta_file):
        return False
    try:
        with open(meta_file) as f:
            old = json.load(f)
    except (OSError, ValueError):
        return False
    if old.get('version') != meta['version'] or \
            old.get('params') != meta['params']:
        return False
    for split in SPLITS:
        if not osp.isfile(
                osp.join(out_dir, 'annotations', f'instances_{split}.json')):
            return False
        img_dir = osp.join(out_dir, 'images', split)
        if not osp.isdir(img_dir):
            return False
        n = sum(1 for name in os.listdir(img_dir) if _IMG_NAME.match(name))
        if n != counts[split]:
            return False
    return True


def generate_shapes_dataset(out_dir,
                            num_train=400,
                            num_val=100,
                            img_size=128,
                            seed=0,
                            force=False):
    """Write the synthetic shapes data set in COCO format.

    The output is a pure function of (``SHAPES_VERSION``, ``num_train``,
    ``num_val``, ``img_size``, ``seed``): the same arguments give
    byte-identical json and pixel-identical PNGs. Each image has its own
    generator seeded with ``(seed, split, index)``, so train and val differ.
    If ``out_dir`` already holds a complete set made with the same version
    and parameters (recorded in ``<out_dir>/meta.json``), nothing is written
    unless ``force`` is True.

    Args:
        out_dir (str): Data root to write into (created if missing).
        num_train (int): Number of training images. Defaults to 400.
        num_val (int): Number of validation images. Defaults to 100.
        img_size (int): Height and width of the square images in pixels.
            Shape sizes scale with it (about 10-60 px at 128 px).
            Defaults to 128.
        seed (int): Global random seed. Defaults to 0.
        force (bool): Regenerate even if the set is up to date.
            Defaults to False.

    Returns:
        dict: ``data_root`` (str), ``ann_file`` and ``img_dir`` (dicts
        ``split -> absolute path``), ``ann_file_rel`` and ``img_prefix_rel``
        (the same relative to ``data_root``, as mmdet configs want them),
        ``num_images`` and ``num_instances`` (``split -> int``; the latter
        is None when nothing was regenerated) and ``generated`` (bool, False
        when an up-to-date set was found and left untouched).
    """
    if img_size < 16:
        raise ValueError(f'img_size must be >= 16, got {img_size}')
    if num_train < 0 or num_val < 0:
        raise ValueError('num_train and num_val must be >= 0')
    out_dir = osp.abspath(str(out_dir))
    counts = dict(train=int(num_train), val=int(num_val))
    params = dict(
        num_train=counts['train'],
        num_val=counts['val'],
        img_size=int(img_size),
        seed=int(seed))
    meta = dict(version=SHAPES_VERSION, params=params)

    result = dict(
        data_root=out_dir,
        ann_file={
            s: osp.join(out_dir, 'annotations', f'instances_{s}.json')
            for s in SPLITS
        },
        img_dir={s: osp.join(out_dir, 'images', s)
                 for s in SPLITS},
        ann_file_rel={s: f'annotations/instances_{s}.json'
                      for s in SPLITS},
        img_prefix_rel={s: f'images/{s}/'
                        for s in SPLITS},
        num_images=dict(counts),
        num_instances={s: None
                       for s in SPLITS},
        generated=False)

    if not force and _is_current(out_dir, meta, counts):
        return result

    os.makedirs(out_dir, exist_ok=True)
    meta_file = osp.join(out_dir, 'meta.json')
    if osp.exists(meta_file):  # invalid until the new set is complete
        os.remove(meta_file)
    for split in SPLITS:
        result['num_instances'][split] = _write_split(out_dir, split,
                                                      counts[split],
                                                      int(img_size), int(seed),
                                                      params)
    _write_json_atomic(meta_file, meta)
    result['generated'] = True
    return result
