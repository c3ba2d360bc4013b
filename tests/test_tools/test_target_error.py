"""tools/analysis/target_error.py: our targets track the pasted IoU."""

import numpy as np
import pytest
import torch

from helpers import build_model, demo_batch, load_tool, tiny_model_cfg


def target_error_tool():
    return load_tool('tools/analysis/target_error.py')


def test_summary_by_hand():
    tool = target_error_tool()
    arrays = dict(
        true=np.array([0.5, 0.8, 0.2, 0.0]),
        ours=np.array([0.5, 0.7, 0.3, 0.0]),
        mmdet=np.array([0.0, 0.6, 0.0, 0.0]))
    out = tool.summarize(arrays)
    assert out['num_rois'] == 4
    assert out['ours_mae'] == pytest.approx(0.05)
    assert out['mmdet_mae'] == pytest.approx((0.5 + 0.2 + 0.2) / 4)
    assert out['mmdet_bias'] == pytest.approx(-0.9 / 4)
    assert out['mmdet_left_out'] == pytest.approx(0.75)
    assert out['true_iou_of_left_out'] == pytest.approx(0.7 / 3)
    assert out['ours_pearson'] == pytest.approx(
        np.corrcoef(arrays['ours'], arrays['true'])[0, 1])


def test_probabilities_between_half_and_062():
    """Every mask probability sigmoid(0.3) = 0.574: >= 0.5, logit < 0.5.

    The final mask is then the whole RoI. Our target is its IoU with the
    ground truth (up to the 28 x 28 grid); mmdet's binarises the logits at
    0.5, sees an empty mask and gives 0 (and leaves the RoI out).
    """
    tool = target_error_tool()
    model = build_model(tiny_model_cfg())
    conv = model.roi_head.mask_head.conv_logits
    with torch.no_grad():
        conv.weight.zero_()
        conv.bias.fill_(0.3)
    batches = [demo_batch(model, 4, batch_size=2, size=64, seed=s)
               for s in range(2)]
    arrays = tool.collect_targets(model, batches)
    num = arrays['true'].size
    assert num > 10
    assert all(a.shape == (num, ) for a in arrays.values())
    assert (arrays['true'] > 0).mean() > 0.5
    assert np.all(arrays['mmdet'] == 0)
    out = tool.summarize(arrays)
    assert out['mmdet_left_out'] == 1.0
    assert out['ours_mae'] < 0.05 < out['mmdet_mae']
    assert out['ours_pearson'] > 0.95


def test_ground_truth_loaded_where_the_pipeline_does_not():
    """The nuclei test pipeline loads no annotations; the tool adds them."""
    tool = target_error_tool()
    test_pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='Resize', scale_factor=1.0, keep_ratio=True),
        dict(type='PackDetInputs'),
    ]
    out = tool.with_ground_truth(test_pipeline)
    assert [step['type'] for step in out] == [
        'LoadImageFromFile', 'LoadAnnotations', 'Resize', 'PackDetInputs'
    ]
    assert out[1] == dict(
        type='LoadAnnotations', with_bbox=True, with_mask=True)
    assert len(test_pipeline) == 3  # the config's list is left alone
    loaded = [dict(type='LoadImageFromFile'),
              dict(type='mmdet.LoadAnnotations', with_bbox=True,
                   with_mask=True, poly2mask=False)]
    assert tool.with_ground_truth(loaded) == loaded
    with pytest.raises(ValueError, match='LoadImageFromFile'):
        tool.with_ground_truth([dict(type='LoadMultiChannelImageFromFiles')])


def test_samples_without_labels_are_refused_by_name():
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData
    tool = target_error_tool()
    sample = DetDataSample(metainfo=dict(img_path='a.png'))
    sample.gt_instances = InstanceData(bboxes=torch.zeros(0, 4))
    with pytest.raises(ValueError, match=r"a.png has no ground-truth "
                       r"\['labels', 'masks'\]"):
        tool.check_ground_truth([sample])
