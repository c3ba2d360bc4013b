"""tools/analysis/jitter_consistency.py and the rescoring's --cue-files."""
import json

import numpy as np
import pytest
import torch

from helpers import build_model, demo_batch, load_tool, tiny_model_cfg


def jitter_tool():
    return load_tool('tools/analysis/jitter_consistency.py')


def test_jittered_boxes_by_hand():
    """Box (10, 20)-(30, 60): width 20, height 40, centre (20, 40)."""
    tool = jitter_tool()
    boxes = torch.tensor([[10., 20., 30., 60.]])
    jitters = ((0., 0., 1.), (0.1, 0., 1.), (0., -0.1, 1.), (0., 0., 1.2),
               (0., 0., 0.85))
    out = tool.moved_boxes(boxes, jitters)
    assert out.shape == (5, 1, 4)
    expected = torch.tensor([
        [10., 20., 30., 60.],  # identity
        [12., 20., 32., 60.],  # +2 px (0.1 x 20)
        [10., 16., 30., 56.],  # -4 px (0.1 x 40)
        [8., 16., 32., 64.],  # 24 x 48 about the centre
        [11.5, 23., 28.5, 57.]
    ])  # 17 x 34
    torch.testing.assert_close(out[:, 0], expected)
    # the default jitters: the identity first, then 4 shifts, grow, shrink
    assert tool.JITTERS[0] == (0., 0., 1.)
    assert tool.moved_boxes(boxes).shape == (len(tool.JITTERS), 1, 4)


def test_mirrored_boxes_by_hand():
    tool = jitter_tool()
    boxes = torch.tensor([[10., 20., 30., 60.], [0., 0., 100., 5.]])
    torch.testing.assert_close(
        tool.mirror_boxes(boxes, 100),
        torch.tensor([[70., 20., 90., 60.], [0., 0., 100., 5.]]))


def test_group_agreements_by_hand():
    tool = jitter_tool()
    # rows: the default jitters; two detections
    agreement = torch.tensor([[1., 1.], [0.8, 0.4], [0.6, 0.4], [0.9, 0.2],
                              [0.7, 0.2], [0.5, 0.1], [0.3, 0.0]])
    cues = tool.group_agreements(agreement)
    torch.testing.assert_close(
        cues,
        torch.tensor([[0.75, 0.3], [0.5, 0.1], [0.3, 0.0]]).T)
    with pytest.raises(ValueError, match='shrink_agreement'):
        tool.group_agreements(agreement[:3],
                              ((0., 0., 1.), (0.1, 0., 1.), (0., 0., 1.2)))


def test_pasted_agreement_by_hand():
    """A 2 x 2 map of ones pasted into a box covers the pixels whose
    centres lie in it (the zero padding halves the value at the border,
    exactly 0.5 at the box edge, still >= the 0.5 threshold): box (2, 2)-
    (6, 6) is pixels 2-5 in both directions, 16 pixels."""
    tool = jitter_tool()
    own = torch.zeros(2, 12, 12, dtype=torch.bool)
    own[0, 2:6, 2:6] = True  # detection 0: the box's own mask
    # detection 1: an empty mask
    boxes = torch.tensor([[[2., 2., 6., 6.], [2., 2., 6., 6.]],
                          [[4., 2., 8., 6.], [4., 2., 8., 6.]],
                          [[8., 8., 10., 10.], [8., 8., 10., 10.]]])
    probs = torch.ones(3, 2, 2, 2)
    probs[:, 1] = 0.  # detection 1 predicts nothing anywhere
    out = tool.pasted_agreement(probs, boxes, own, threshold=0.5)
    # same box: 1; shifted 2 px: 8 / (16 + 16 - 8); disjoint: 0;
    # two empty masks agree (1)
    torch.testing.assert_close(out,
                               torch.tensor([[1., 1.], [1 / 3, 1.], [0., 1.]]))


def test_agreements_of_a_model_follow_its_predictions():
    """On a tiny random model: one agreement per jitter and detection, in
    the order of the model's own predictions, the identity reproducing
    its masks exactly."""
    tool = jitter_tool()
    model = build_model(tiny_model_cfg())
    model.eval()
    inputs, samples = demo_batch(
        model, num_classes=3, batch_size=2, training=False)
    out = tool.image_agreements(model, inputs, samples)
    with torch.no_grad():
        predicted = model.predict(inputs, samples)
    assert len(out) == 2
    num = 0
    for res, sample in zip(out, predicted):
        scores = sample.pred_instances.scores.numpy()
        np.testing.assert_array_equal(res['scores'], scores)
        assert res['agreement'].shape == (len(tool.JITTERS), len(scores))
        num += len(scores)
        assert res['flip'].shape == (len(scores), )
        if len(scores):
            torch.testing.assert_close(res['agreement'][0],
                                       torch.ones(len(scores)))
            assert res['agreement'].min() >= 0
            assert 0 <= res['flip'].min() and res['flip'].max() <= 1
    assert num > 0, 'the tiny model must detect something to test'


def test_a_mask_head_blind_to_the_image_agrees_with_its_mirror():
    """A mask head that predicts probability sigmoid(2) everywhere draws
    the whole box whatever the features: the mask of the mirrored image,
    mirrored back into the detection's box, is the detection's own mask."""
    tool = jitter_tool()
    model = build_model(tiny_model_cfg())
    model.eval()
    with torch.no_grad():
        logits = model.roi_head.mask_head.conv_logits
        logits.weight.zero_()
        logits.bias.fill_(2.)
    inputs, samples = demo_batch(
        model, num_classes=3, batch_size=2, training=False)
    out = tool.image_agreements(model, inputs, samples)
    flips = torch.cat([res['flip'] for res in out])
    assert flips.numel() > 0
    torch.testing.assert_close(flips, torch.ones_like(flips))


def test_refuses_a_cascade():
    tool = jitter_tool()
    model = build_model(tiny_model_cfg())
    tool.check_host(model)  # Mask R-CNN-type: accepted
    model.roi_head.mask_head = torch.nn.ModuleList([torch.nn.Identity()])
    with pytest.raises(SystemExit, match='one per stage'):
        tool.check_host(model)


def test_rescoring_reads_cue_files_in_the_dumps_order(tmp_path):
    """The rescoring's --cues files: a cue that is the true IoU corrects
    the order; a file of other detections is refused."""
    cues_tests = load_tool('tests/test_evaluation/test_image_cues.py')
    write_image_set, box_mask = cues_tests.write_image_set, \
        cues_tests.box_mask
    SQUARE, LEFT_HALF = cues_tests.SQUARE, cues_tests.LEFT_HALF
    fit, fit_ann = write_image_set(tmp_path, 1,
                                   [(SQUARE, 0.6, 1.0), (LEFT_HALF, 0.7, 0.5),
                                    (box_mask(12, 16, 12, 20), 0.8, 0.5),
                                    (box_mask(12, 16, 12, 16), 0.5, 0.25)])
    evaluated, eval_ann = write_image_set(tmp_path, 2, [(SQUARE, 0.8, 1.0),
                                                        (LEFT_HALF, 0.9, 0.5)])

    def cue_file(name, img_id, score, cue):
        """Two cues: ``good`` (the given one) and ``flat`` (constant)."""
        path = str(tmp_path / name)
        np.savez(
            path,
            img_id=np.full(len(score), img_id),
            score=np.asarray(score),
            cues=np.stack([cue, np.full(len(cue), 0.5)], axis=1),
            cue_names=np.asarray(['good', 'flat']))
        return path

    fit_cues = cue_file('fit.npz', 1, [0.6, 0.7, 0.8, 0.5],
                        [1.0, 0.5, 0.5, 0.25])
    eval_cues = cue_file('eval.npz', 2, [0.8, 0.9], [1.0, 0.5])
    tool = load_tool('tools/analysis/image_cue_rescoring.py')
    common = [
        '--fit', fit, '--fit-ann', fit_ann, '--eval', evaluated, '--eval-ann',
        eval_ann, '--img-dir',
        str(tmp_path), '--boot', '3'
    ]
    out = tmp_path / 'rows.json'
    rows = tool.main(common + [
        '--cues', 'files', '--cue-files', fit_cues, eval_cues, '--out',
        str(out)
    ])
    by = {r['ranking']: r for r in rows}
    assert by['cls']['segm_mAP']['value'] == pytest.approx(0.55)
    assert by['refit']['headroom_recovered']['value'] == pytest.approx(0.)
    assert by['refit + cues']['headroom_recovered']['value'] == \
        pytest.approx(1.0)
    assert json.loads(out.read_text())['rows'] == rows
    # both: the image cues and the file's, one correction
    rows = tool.main(common +
                     ['--cues', 'both', '--cue-files', fit_cues, eval_cues])
    assert {
        r['ranking']: r
        for r in rows
    }['refit + cues']['headroom_recovered']['value'] == pytest.approx(1.0)
    # one file cue by name: the constant one cannot order the masks
    files = common + ['--cues', 'files', '--cue-files', fit_cues, eval_cues]
    rows = tool.main(files + ['--file-cues', 'flat'])
    assert {
        r['ranking']: r
        for r in rows
    }['refit + cues']['headroom_recovered']['value'] == pytest.approx(0.)
    rows = tool.main(files + ['--file-cues', 'good'])
    assert {
        r['ranking']: r
        for r in rows
    }['refit + cues']['headroom_recovered']['value'] == pytest.approx(1.0)
    with pytest.raises(SystemExit, match="no cue \\['colour'\\]"):
        tool.main(files + ['--file-cues', 'colour'])
    # one image cue alone: the blob IoU also tells the true IoU here
    rows = tool.main(common + ['--image-cues', 'otsu_component_iou'])
    assert {
        r['ranking']: r
        for r in rows
    }['refit + cues']['headroom_recovered']['value'] == pytest.approx(1.0)
    with pytest.raises(SystemExit):  # not a cue
        tool.main(common + ['--image-cues', 'colour'])
    reordered = cue_file('bad.npz', 2, [0.9, 0.8], [1.0, 0.5])
    with pytest.raises(SystemExit, match='not the dump'):
        tool.main(common +
                  ['--cues', 'files', '--cue-files', fit_cues, reordered])
    with pytest.raises(SystemExit):  # files without --cue-files
        tool.main(common + ['--cues', 'files'])
    with pytest.raises(SystemExit):  # file cues chosen, then not used
        tool.main(common + ['--cue-files', fit_cues, eval_cues,
                            '--file-cues', 'good'])
    with pytest.raises(SystemExit):  # image cues chosen, then not used
        tool.main(files + ['--image-cues', 'local_contrast'])
