"""Reading the predictions of one image from a predicted data sample."""
import numpy as np
from mmengine.structures import BaseDataElement

from .rle import encode_masks, to_numpy

#: Per-detection fields of ``pred_instances`` read when present.
OPTIONAL_KEYS = ('mask_ious', 'mask_scores', 'maskness')


def parse_pred_sample(data_sample) -> dict:
    """Extract what the metric needs from one predicted data sample.

    Args:
        data_sample (dict | DetDataSample): A data sample as the evaluator
            passes it (``DetDataSample.to_dict()``) or as stored in a
            results pickle of mmdet's ``tools/test.py --out``. It must have
            ``img_id`` and ``pred_instances`` with ``scores`` (N,),
            ``labels`` (N,) and ``masks`` ((N, H, W) binary masks or N RLE
            dicts); ``mask_ious`` (N,) and ``mask_scores`` (N,) are
            optional (MS R-CNN has them, Mask R-CNN does not), and so is
            ``maskness`` (N,), the mean probability of each mask over its
            binarised foreground (our RoI heads add it).

    Returns:
        dict: ``img_id`` (int), ``scores`` (N,) float64, ``labels`` (N,)
        int64, ``masks`` (list of N RLE dicts), ``mask_ious``,
        ``mask_scores`` and ``maskness`` ((N,) float64 or None).

    Raises:
        KeyError: ``pred_instances`` without ``masks``.
        ValueError: Fields of ``pred_instances`` of different lengths.
    """
    if isinstance(data_sample, BaseDataElement):
        data_sample = data_sample.to_dict()
    pred = data_sample['pred_instances']
    if isinstance(pred, BaseDataElement):
        pred = pred.to_dict()
    if 'masks' not in pred:
        raise KeyError('MaskQualityMetric needs `pred_instances.masks`.')
    result = dict(
        img_id=int(data_sample['img_id']),
        scores=to_numpy(pred['scores']).astype(np.float64).reshape(-1),
        labels=to_numpy(pred['labels']).astype(np.int64).reshape(-1),
        masks=encode_masks(pred['masks']))
    for key in OPTIONAL_KEYS:
        result[key] = None
        if key in pred:
            result[key] = to_numpy(pred[key]).astype(np.float64).reshape(-1)
    num = len(result['scores'])
    for key in ('labels', 'masks') + OPTIONAL_KEYS:
        if result[key] is not None and len(result[key]) != num:
            raise ValueError(f'pred_instances.{key} has {len(result[key])} '
                             f'entries but there are {num} scores.')
    return result
