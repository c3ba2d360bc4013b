"""What the speed benchmark compares and the rows of its table."""

#: the three detectors, in table order
IMPLS = ('mask_rcnn', 'ours', 'mmdet_ms')
IMPL_NAMES = dict(
    mask_rcnn='mmdet Mask R-CNN',
    ours='ours MS R-CNN',
    mmdet_ms='mmdet MS R-CNN')
#: the MaskIoU heads whose target computation is timed
TARGET_IMPLS = ('ours', 'mmdet_ms')
TARGET_ROIS = (64, 512, 2048)
TARGET_KINDS = ('bitmap', 'polygon')
#: keys of the timing rows: (key, label, unit, implementations)
ROW_SPECS = [
    ('infer_b1_100', 'inference, batch 1, 100 dets (score_thr 0)', 'ms/img',
     IMPLS),
    ('infer_b2_100', 'inference, batch 2, 100 dets (score_thr 0)', 'ms/img',
     IMPLS),
    ('infer_b1_default', 'inference, batch 1, score_thr 0.05', 'ms/img',
     IMPLS),
    ('train', 'training iteration (fwd + bwd + SGD step)', 'ms/iter', IMPLS),
    ('infer_mask_branch', 'mask branch only: predict_mask, batch 1, 100 dets',
     'ms/img', IMPLS),
    ('train_mask_branch', 'mask branch only: mask_loss + backward', 'ms/iter',
     IMPLS),
    ('train_peak_mem', 'training memory (peak over the built model)', 'MiB',
     IMPLS),
] + [(f'targets_{kind}_{n}', f'MaskIoU targets, {kind}, {n} RoIs', 'ms',
      TARGET_IMPLS) for kind in TARGET_KINDS for n in TARGET_ROIS]


def make_row(key: str, results: dict) -> dict:
    """A row of the report: its label and unit from :data:`ROW_SPECS`.

    Args:
        key (str): A key of :data:`ROW_SPECS`.
        results (dict): Implementation -> statistics.

    Returns:
        dict: ``label``, ``unit`` and ``results``.
    """
    spec = next(s for s in ROW_SPECS if s[0] == key)
    return dict(label=spec[1], unit=spec[2], results=results)


def in_table_order(rows: dict) -> dict:
    """The rows present, in the order of :data:`ROW_SPECS`."""
    return {s[0]: rows[s[0]] for s in ROW_SPECS if s[0] in rows}
