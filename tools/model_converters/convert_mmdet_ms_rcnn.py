"""Convert a checkpoint of mmdet's built-in Mask Scoring R-CNN to ours.

    python tools/model_converters/convert_mmdet_ms_rcnn.py IN.pth OUT.pth \\
        [--config configs/ms_rcnn/ms-rcnn_r50_fpn_1x_coco.py] \\
        [--trust-pickle]

IN.pth was trained with one of mmdet's ``ms_rcnn`` configs
(``type='MaskScoringRCNN'``). The MaskIoU keys are checked (and, with
``--config``, every key against the model that config builds, as a strict
load would); OUT.pth holds the state dict and a plain meta dict only, so it
loads with ``torch.load(..., weights_only=True)``, e.g. by
``tools/test.py CONFIG OUT.pth``. The conversion itself is
:func:`mmdet_msrcnn.utils.convert_mmdet_ms_rcnn_checkpoint`.
"""
import argparse
import os.path as osp
import sys

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if REPO not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, REPO)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('src', help="checkpoint of mmdet's MaskScoringRCNN")
    parser.add_argument('dst', help='output checkpoint for mmdet_msrcnn')
    parser.add_argument(
        '--config',
        help='one of our configs: check the converted keys against the '
        'model it builds (strict)')
    parser.add_argument(
        '--trust-pickle',
        action='store_true',
        help='if the weights-only load refuses IN.pth, unpickle it fully '
        '(only for files from a trusted source: unpickling can run code)')
    return parser.parse_args(argv)


def model_keys(config: str):
    """State-dict keys of the model built from ``config``."""
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    from mmengine.config import Config
    register_all_modules(init_default_scope=True)
    import mmdet_msrcnn  # noqa: F401
    cfg = Config.fromfile(config)
    return list(MODELS.build(cfg.model).state_dict().keys())


def main(argv=None) -> None:
    args = parse_args(argv)
    from mmdet_msrcnn.utils import convert_mmdet_ms_rcnn_checkpoint
    expected = model_keys(args.config) if args.config else None
    out = convert_mmdet_ms_rcnn_checkpoint(
        args.src,
        args.dst,
        expected_keys=expected,
        trust_pickle=args.trust_pickle)
    num_iou = sum(
        k.startswith('roi_head.mask_iou_head.') for k in out['state_dict'])
    print(f'{args.dst}: {len(out["state_dict"])} tensors '
          f'({num_iou} of the MaskIoU head), weights-only loadable')
    dropped = out['meta'].get('dropped_meta')
    if dropped:
        print(f'dropped non-plain meta entries: {dropped}')


if __name__ == '__main__':
    main()
