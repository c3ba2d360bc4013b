"""Verdicts, markdown tables and the printed summary of the speed report.
"""
import os
import os.path as osp
import platform

import torch

from .rows import IMPL_NAMES, IMPLS, TARGET_KINDS
from .timing import paired_ratio
from .train_cost import markdown_train_cost


def other_jobs() -> list:
    """Command lines of other training / benchmark processes running now."""
    me = os.getpid()
    found = []
    for pid in os.listdir('/proc') if osp.isdir('/proc') else []:
        if not pid.isdigit() or int(pid) == me:
            continue
        try:
            with open(f'/proc/{pid}/cmdline', 'rb') as f:
                cmd = f.read().replace(b'\0', b' ').decode(errors='replace')
            with open(f'/proc/{pid}/stat') as f:
                ppid = int(f.read().rsplit(')', 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid == me:
            continue
        if any(
                key in cmd for key in ('train', 'demo.py', 'speed.py',
                                       'pytest', 'test.py')):
            found.append(f'{pid}: {cmd.strip()[:120]}')
    return found


def run_meta(args, device, config, num_classes, shared, command, jobs,
             wall_s) -> dict:
    """The ``meta`` of the report: the machine and the run's settings.

    Args:
        args (Namespace): The speed benchmark's arguments.
        device (torch.device): The device measured.
        config (str): The config, as shown.
        num_classes (int): Object classes of the models.
        shared (dict[str, int]): Unexpected keys per model (weights not
            shared with ours).
        command (str): How the benchmark was started.
        jobs (list[str]): :func:`other_jobs` seen during the run.
        wall_s (float): Seconds the run took.

    Returns:
        dict: Everything the markdown header shows, and more.
    """
    return dict(
        machine=(f'{platform.machine()} {platform.processor() or ""}'
                 f' {os.cpu_count()} CPUs'.replace('  ', ' ') +
                 (f', {torch.cuda.get_device_name(device)}'
                  if device.type == 'cuda' else ', no GPU used')),
        torch=torch.__version__,
        threads=torch.get_num_threads(),
        device=str(device),
        cuda_nms_roialign=args.cuda_ops,
        config=config,
        num_classes=num_classes,
        size=list(args.size),
        train_batch=args.train_batch,
        num_gt=args.num_gt,
        cls_scale=args.cls_scale,
        repeat=args.repeat,
        warmup=args.warmup,
        shared_weights={
            n: f'{v} unexpected keys'
            for n, v in shared.items()
        },
        command=command,
        other_jobs=jobs,
        loadavg=list(os.getloadavg()),
        wall_s=wall_s)


def fmt_ms(st: dict) -> str:
    """``median (min-max)``, or the median alone for one run."""
    if st['n'] == 1:
        return f"{st['median']:.1f}"
    return f"{st['median']:.1f} ({st['min']:.1f}-{st['max']:.1f})"


def verdict(ratio: float, limit: float, noise: float = 0.0) -> str:
    """``PASS``, ``PASS (within noise ...)`` or ``FAIL``."""
    if ratio <= limit:
        return 'PASS'
    if ratio <= limit + noise:
        return f'PASS (within noise +-{noise * 100:.0f}%)'
    return 'FAIL'


def _overhead_checks(rows, flops) -> list:
    share = flops['share']
    over = flops['over_mask_rcnn']
    checks = []
    for key in ('infer_b1_100', 'infer_b2_100'):
        r = rows[key]['results']
        overhead = paired_ratio(r['ours'], r['mask_rcnn'])['ratio'] - 1
        checks.append(
            dict(
                name=f'{key}: ours over Mask R-CNN <= 1.1 x MaskIoU FLOPs '
                'share of the MS R-CNN model',
                value=overhead,
                limit=1.1 * share,
                verdict=verdict(overhead, 1.1 * share)))
        checks.append(
            dict(
                name=f'{key}: ours over Mask R-CNN <= 1.1 x MaskIoU FLOPs '
                'over Mask R-CNN (same units)',
                value=overhead,
                limit=1.1 * over,
                verdict=verdict(overhead, 1.1 * over)))
    return checks


def evaluate(report: dict) -> list:
    """The targets of the benchmark and their verdicts.

    Args:
        report (dict): With ``rows``, ``flops`` and ``per_roi_loop``.

    Returns:
        list[dict]: ``name``, ``value``, ``limit``, ``verdict`` (and
        ``noise`` for the paired ratios).
    """
    rows = report['rows']
    checks = _overhead_checks(rows, report['flops']['model']['mmengine'])
    for key in ('infer_b1_100', 'infer_b2_100', 'infer_b1_default', 'train',
                'infer_mask_branch', 'train_mask_branch'):
        r = rows[key]['results']
        pr = paired_ratio(r['ours'], r['mmdet_ms'])
        checks.append(
            dict(
                name=f'{key}: ours / mmdet MS R-CNN <= 1.0',
                value=pr['ratio'],
                limit=1.0,
                noise=pr['noise'],
                verdict=verdict(pr['ratio'], 1.0, pr['noise'])))
    for kind in TARGET_KINDS:
        r = rows[f'targets_{kind}_512']['results']
        speedup = r['mmdet_ms']['median'] / r['ours']['median']
        checks.append(
            dict(
                name=f'targets_{kind}_512: speed-up over mmdet >= 5x',
                value=speedup,
                limit=5.0,
                verdict='PASS' if speedup >= 5 else 'FAIL'))
    for kind, counts in report['per_roi_loop'].items():
        calls = list(counts.values())
        checks.append(
            dict(
                name=f'no per-RoI Python loop in our MaskIoU head '
                f'({kind}): calls at 64 vs 2048 RoIs',
                value=calls,
                limit='equal',
                verdict='PASS' if len(set(calls)) == 1 else 'FAIL'))
    return checks


# ----------------------------------------------------------------------
# markdown, section by section
def _md_header(meta) -> list:
    lines = [
        f"Machine: {meta['machine']}; torch {meta['torch']}, "
        f"{meta['threads']} threads, device {meta['device']}.",
        f"Model: {meta['config']} ({meta['num_classes']} classes, random "
        f"weights shared), input {meta['size'][0]}x{meta['size'][1]}, "
        f"training batch {meta['train_batch']}, {meta['num_gt']} GT "
        'instances/image, bbox classifier weights x'
        f"{meta['cls_scale']:g} (peaked class scores), Soft-NMS, "
        'max_per_img 100, SGD (lr 0.02, momentum 0.9).',
        f"Medians over {meta['repeat']} runs (min-max in brackets) after "
        f"{meta['warmup']} warm-up runs (the second and third inference rows "
        'run on warm models without), the models '
        'interleaved in a rotating order; ratios: median of the per-round '
        'ratios (+- half their range).', f"Command: `{meta['command']}`", ''
    ]
    if meta.get('cuda_nms_roialign'):
        lines += [
            f"CUDA NMS and RoIAlign kernels: {meta['cuda_nms_roialign']}, "
            'the same for all three models; Soft-NMS runs on the CPU in '
            'mmcv.', ''
        ]
    if meta['other_jobs']:
        lines += [
            '**Other jobs were running during the measurement:** ' +
            '; '.join(meta['other_jobs']), ''
        ]
    return lines


def _md_timing_table(rows) -> list:
    head = ('| measurement | unit | ' + ' | '.join(IMPL_NAMES[n]
                                                   for n in IMPLS) +
            ' | ours / Mask R-CNN | ours / mmdet MS |')
    lines = [head, '|' + '---|' * (len(IMPLS) + 4)]
    for key, row in rows.items():
        if key.startswith('targets_'):
            continue
        res = row['results']
        cells = [res[n] and fmt_ms(res[n]) if n in res else '-' for n in IMPLS]
        ratios = []
        for base in ('mask_rcnn', 'mmdet_ms'):
            if base in res and 'ours' in res:
                pr = paired_ratio(res['ours'], res[base])
                ratios.append(f"{pr['ratio']:.3f}" + (
                    f" (+-{pr['noise']:.3f})" if pr['ratios'] else ''))
            else:
                ratios.append('-')
        lines.append(f"| {row['label']} | {row['unit']} | " +
                     ' | '.join(cells + ratios) + ' |')
    return lines


def _md_work(info) -> list:
    return [
        '', f"Detections per image at score_thr 0: "
        f"{info['infer_b1_100']['ours']['dets_per_img']:.0f}; at 0.05: "
        f"{info['infer_b1_default']['ours']['dets_per_img']:.1f}; "
        f"proposals into the bbox head: "
        f"{info['infer_b1_100']['ours']['proposals']}; positive RoIs per "
        f"training iteration: {info['train']['ours']['pos_rois']} "
        '(identical for the three models: '
        f"{info['same_work']}).", ''
    ]


def _md_memory(method, mem_res) -> list:

    def mib(key):
        return ', '.join(f"{IMPL_NAMES[n]} {mem_res[n][key]:.0f}"
                         for n in IMPLS)

    return [
        f'Training memory: {method}, in a fresh process per model: the '
        'peak of two training steps minus the resident size of the built '
        'model and inputs (so gradients, SGD momentum and activations). '
        f"Resident between the steps (MiB): {mib('steady_mib')}; the "
        f"built model and inputs (MiB): {mib('base_mib')}.", ''
    ]


def _md_targets_table(rows) -> list:
    lines = [
        '| MaskIoU targets | ours (ms) | mmdet built-in (ms) | speed-up |',
        '|---|---|---|---|'
    ]
    for key, row in rows.items():
        if not key.startswith('targets_'):
            continue
        res = row['results']
        lines.append(
            f"| {row['label'][len('MaskIoU targets, '):]} | "
            f"{fmt_ms(res['ours'])} | {fmt_ms(res['mmdet_ms'])} | "
            f"{res['mmdet_ms']['median'] / res['ours']['median']:.1f}x |")
    return lines


def _md_flops_table(fl) -> list:
    sh = fl['shapes']
    model = fl['model']
    lines = [
        '', f"FLOPs in GMACs (1 multiply-add = 1 FLOP, as in the paper); "
        f"mask feature {sh['mask_feat']}, mask {sh['mask_size']}x"
        f"{sh['mask_size']}, bbox feature {sh['bbox_feat']}, image "
        f"{sh['image'][0]}x{sh['image'][1]}, {fl['num_proposals']} "
        f"proposals, {fl['num_dets']} detections.", '',
        '| part | by layer shapes | mmengine |', '|---|---|---|'
    ]
    for key, val in fl['per_roi'].items():
        lines.append(f'| {key} per RoI | {val["hooks"] / 1e9:.4f} | '
                     f'{val["mmengine"] / 1e9:.4f} |')
    for key in model['hooks']['parts']:
        lines.append(f"| {key} (model) | "
                     f"{model['hooks']['parts'][key] / 1e9:.2f} | "
                     f"{model['mmengine']['parts'][key] / 1e9:.2f} |")
    lines.append(f"| MS R-CNN total | {model['hooks']['total'] / 1e9:.2f} | "
                 f"{model['mmengine']['total'] / 1e9:.2f} |")
    lines.append(f"| MaskIoU share of MS R-CNN | "
                 f"{model['hooks']['share'] * 100:.1f}% | "
                 f"{model['mmengine']['share'] * 100:.1f}% |")
    lines.append(f"| MaskIoU FLOPs over Mask R-CNN | "
                 f"{model['hooks']['over_mask_rcnn'] * 100:.1f}% | "
                 f"{model['mmengine']['over_mask_rcnn'] * 100:.1f}% |")
    return lines


def _md_checks_table(checks) -> list:
    lines = ['', '| target | value | limit | verdict |', '|---|---|---|---|']
    for chk in checks:
        value = chk['value']
        if isinstance(value, float):
            value = f'{value:.3f}'
        limit = chk['limit']
        if isinstance(limit, float):
            limit = f'{limit:.3f}'
        lines.append(f"| {chk['name']} | {value} | {limit} | "
                     f"{chk['verdict']} |")
    return lines


def _md_train_breakdown(bd) -> list:
    if not bd:
        return []
    lines = [
        '', '| MaskIoU parts of a training step (ms) | ours | '
        'mmdet built-in |', '|---|---|---|'
    ]
    for part in ('fwd_bwd', 'targets'):
        cells = [
            fmt_ms(bd[n][part]) if n in bd and part in bd[n] else '-'
            for n in ('ours', 'mmdet_ms')
        ]
        lines.append(f'| {part} | ' + ' | '.join(cells) + ' |')
    cells = [
        str(bd[n]['pos_rois']) if n in bd else '-'
        for n in ('ours', 'mmdet_ms')
    ]
    lines.append('| positive RoIs | ' + ' | '.join(cells) + ' |')
    for num, st in bd.get('ours_sweep', {}).items():
        lines.append(f'| fwd_bwd at {num} RoIs (random inputs) | '
                     f'{fmt_ms(st)} | - |')
    return lines


def _md_phases(key, phases) -> list:
    names = list(
        dict.fromkeys(
            k for n in ('ours', 'mmdet_ms', 'mask_rcnn') if n in phases
            for k in phases[n]))
    lines = [
        '',
        f'| phases, {key} (ms, median) | ' + ' | '.join(IMPL_NAMES[n]
                                                        for n in IMPLS) + ' |',
        '|' + '---|' * (len(IMPLS) + 1)
    ]
    for ph in names:
        cells = [
            f'{phases[n][ph]:.1f}' if ph in phases.get(n, {}) else '-'
            for n in IMPLS
        ]
        indent = '&nbsp;' * (len(ph) - len(ph.lstrip()))
        lines.append(f'| {indent}{ph.lstrip()} | ' + ' | '.join(cells) + ' |')
    return lines


def markdown(report: dict) -> str:
    """The whole report as markdown (tables and notes)."""
    rows = report['rows']
    lines = _md_header(report['meta']) + _md_timing_table(rows)
    lines += _md_work(report['info'])
    if report.get('memory_method'):
        lines += _md_memory(report['memory_method'],
                            rows['train_peak_mem']['results'])
    lines += _md_targets_table(rows)
    lines += _md_flops_table(report['flops'])
    lines += _md_checks_table(report['checks'])
    lines += _md_train_breakdown(report.get('train_breakdown', {}))
    lines += markdown_train_cost(report.get('train_cost', {}))
    for key, phases in report.get('phases', {}).items():
        lines += _md_phases(key, phases)
    for key, text in report.get('profile', {}).items():
        lines += ['', f'Profile `{key}` (our model):', '', '```', text, '```']
    return '\n'.join(lines) + '\n'


def print_summary(report: dict) -> None:
    """Print the markdown and one verdict line per check."""
    print(markdown(report))
    for chk in report['checks']:
        print(f"{chk['verdict'].split()[0]}: {chk['name']} "
              f"(value {chk['value']}, limit {chk['limit']})")
