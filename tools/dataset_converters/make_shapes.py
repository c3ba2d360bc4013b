"""Write the synthetic "shapes" instance-segmentation set (COCO format).

Example::

    python tools/dataset_converters/make_shapes.py --out data/shapes \
        --num-train 400 --num-val 100 --img-size 128 --seed 0

A second run with the same arguments finds the set up to date and returns
at once; ``--force`` regenerates it.
"""
import argparse
import os.path as osp
import sys
import time

try:
    from mmdet_msrcnn.synthetic import generate_shapes_dataset
except ImportError:  # running from a source checkout that is not installed
    sys.path.insert(
        0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
    from mmdet_msrcnn.synthetic import generate_shapes_dataset


def parse_args(argv=None):
    """Parse the command line.

    Args:
        argv (list[str], optional): Arguments; ``sys.argv[1:]`` if None.

    Returns:
        argparse.Namespace: The parsed arguments.
    """
    parser = argparse.ArgumentParser(
        description='Generate the synthetic shapes data set (COCO format).')
    parser.add_argument(
        '--out', default='data/shapes', help='output folder (data root)')
    parser.add_argument(
        '--num-train', type=int, default=400, help='training images')
    parser.add_argument(
        '--num-val', type=int, default=100, help='validation images')
    parser.add_argument(
        '--img-size', type=int, default=128, help='image side in pixels')
    parser.add_argument('--seed', type=int, default=0, help='random seed')
    parser.add_argument(
        '--force',
        action='store_true',
        help='regenerate even if an up-to-date set is present')
    return parser.parse_args(argv)


def main(argv=None):
    """Entry point: generate the set and report what was done."""
    args = parse_args(argv)
    start = time.perf_counter()
    info = generate_shapes_dataset(
        args.out,
        num_train=args.num_train,
        num_val=args.num_val,
        img_size=args.img_size,
        seed=args.seed,
        force=args.force)
    elapsed = time.perf_counter() - start
    if not info['generated']:
        print(f'Shapes data set in {info["data_root"]} is up to date '
              f'(checked in {elapsed:.2f} s); use --force to regenerate.')
        return info
    print(f'Wrote the shapes data set to {info["data_root"]} '
          f'in {elapsed:.2f} s:')
    for split in ('train', 'val'):
        print(f'  {split}: {info["num_images"][split]} images, '
              f'{info["num_instances"][split]} instances')
        print(f'    images:      {info["img_dir"][split]}')
        print(f'    annotations: {info["ann_file"][split]}')
    return info


if __name__ == '__main__':
    main()
