#!/usr/bin/env python
"""The speed benchmark's training-cost table, for chosen rows only.

    python tools/benchmark/train_cost.py --rows frozen_upgrade \\
        frozen_upgrade_image [--repeat 7] [--warmup 2] [--size 128 128] \\
        [--train-batch 4] [--out-json cost.json]

Times one training iteration (forward, backward, SGD step) of each named
row of :data:`msrcnn_benchmark.train_cost.DEMO_VARIANTS`, interleaved in
one process on one random batch, with the row each is compared against
(its base, and the paper training for RoI-head options) added, and prints
the markdown table of ``tools/benchmark/speed.py --model demo`` (same
defaults: 128 px, batch 4, 7 timed runs after 2). Use it to add a row to
that table without timing the whole benchmark again.
"""
import argparse
import json
import os.path as osp

import torch

from msrcnn_benchmark.detectors import init_scope, quiet_logs
from msrcnn_benchmark.train_cost import (DEMO_VARIANTS, PAPER,
                                         bench_train_cost,
                                         markdown_train_cost)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
KEYS = [key for key, *_ in DEMO_VARIANTS]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--rows', nargs='+', required=True, metavar='KEY',
                        help=f'rows to time, of: {" ".join(KEYS)}')
    parser.add_argument('--repeat', type=int, default=7)
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument('--size', type=int, nargs=2, default=(128, 128),
                        metavar=('H', 'W'))
    parser.add_argument('--train-batch', type=int, default=4)
    parser.add_argument('--num-gt', type=int, default=4,
                        help='ground-truth instances per image')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--cls-scale', type=float, default=30.0)
    parser.add_argument('--device', default='cpu', choices=('cpu', 'cuda'))
    parser.add_argument('--out-json', help='write every number as JSON')
    args = parser.parse_args(argv)
    unknown = [key for key in args.rows if key not in KEYS]
    if unknown:
        parser.error(f'unknown --rows {unknown}; choose from {KEYS}.')
    if args.repeat < 1 or args.warmup < 0:
        parser.error('--repeat must be >= 1 and --warmup >= 0')
    args.size = tuple(args.size)
    return args


def chosen_variants(rows):
    """The named rows with the rows they are compared against, in the
    table's order."""
    by_key = {v[0]: v for v in DEMO_VARIANTS}
    wanted = set(rows)
    for key in rows:
        base = by_key[key][3]
        if base is not None:
            wanted.add(base)
            if base == 'mask_rcnn':  # RoI-head options: x paper training
                wanted.add(PAPER)
    return [v for v in DEMO_VARIANTS if v[0] in wanted]


def main(argv=None):
    args = parse_args(argv)
    init_scope()
    with quiet_logs():
        cost = bench_train_cost(args, torch.device(args.device), REPO,
                                chosen_variants(args.rows))
    lines = markdown_train_cost(cost)
    print('\n'.join(lines))
    if args.out_json:
        with open(args.out_json, 'w') as f:
            json.dump(cost, f, indent=1)
    return cost


if __name__ == '__main__':
    main()
