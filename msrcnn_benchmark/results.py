"""Metrics json and result tables of the training benchmarks."""
import json
import math
import os
import os.path as osp

import numpy as np


def to_jsonable(obj):
    """Floats for numpy / torch scalars, recursively; nan -> None."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if hasattr(obj, 'item') and not isinstance(obj, (str, bytes)):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def save_json(obj, path: str) -> None:
    """Write :func:`to_jsonable` of ``obj``, creating the folder."""
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    with open(path, 'w') as f:
        json.dump(to_jsonable(obj), f, indent=1)


def load_json(path: str):
    with open(path) as f:
        return json.load(f)


def fmt(value, digits: int = 1, scale: float = 100.) -> str:
    """A metric for a table: ``value * scale`` or ``-`` when missing."""
    if value is None:
        return '-'
    try:
        value = float(value)
    except (TypeError, ValueError):
        return str(value)
    if not math.isfinite(value) or value < 0:  # COCOeval's -1: undefined
        return '-'
    return f'{value * scale:.{digits}f}'


def render_table(header, rows, title=None):
    """A table as aligned plain text and as markdown.

    Args:
        header (list[str]): Column names.
        rows (list[list[str]]): Cells, already formatted.
        title (str, optional): Printed above both.

    Returns:
        tuple[str, str]: Plain text and markdown.
    """
    cols = list(zip(*([header] + rows))) if rows else [[h] for h in header]
    widths = [max(len(c) for c in col) for col in cols]

    def line(cells):
        first = cells[0].ljust(widths[0])
        rest = [c.rjust(w) for c, w in zip(cells[1:], widths[1:])]
        return ' | '.join([first] + rest)

    text = [line(header), '-+-'.join('-' * w for w in widths)]
    text += [line(r) for r in rows]
    md = [
        '| ' + ' | '.join(header) + ' |',
        '|' + '|'.join([':---'] + ['---:'] * (len(header) - 1)) + '|'
    ]
    md += ['| ' + ' | '.join(r) + ' |' for r in rows]
    if title:
        text = [title] + text
        md = [f'**{title}**', ''] + md
    return '\n'.join(text), '\n'.join(md)


def seed_table(runs, columns, title=None):
    """One row per run and, per model with 2+ runs, mean ± std.

    Args:
        runs (list[dict]): ``model`` (label), ``seed`` and ``metrics``.
        columns (list[tuple]): (column, metric key, scale, digits).
        title (str, optional): Above the table.

    Returns:
        tuple[str, str]: Plain text and markdown.
    """
    header = ['model', 'seed'] + [c[0] for c in columns]
    rows = [[r['model'], str(r['seed'])] + [
        fmt(r['metrics'].get(key), digits, scale)
        for _, key, scale, digits in columns
    ] for r in runs]
    by_model = {}
    for r in runs:
        by_model.setdefault(r['model'], []).append(r['metrics'])
    for model, all_metrics in by_model.items():
        if len(all_metrics) < 2:
            continue
        cells = []
        for _, key, scale, digits in columns:
            vals = np.array([
                np.nan if m.get(key) is None or m.get(key) < 0 else m[key]
                for m in all_metrics
            ],
                            dtype=np.float64) * scale
            if np.isnan(vals).all():
                cells.append('-')
            else:
                cells.append(f'{np.nanmean(vals):.{digits}f} ± '
                             f'{np.nanstd(vals):.{digits}f}')
        rows.append([model, f'mean of {len(all_metrics)}'] + cells)
    return render_table(header, rows, title)


def write_results(text: str, md: str, note: str, data: dict, out_md: str,
                  out_json: str) -> None:
    """Print a result table with its note; write it as markdown and json."""
    print('\n' + text + '\n\n' + note)
    save_json(dict(note=note, **data), out_json)
    os.makedirs(osp.dirname(osp.abspath(out_md)), exist_ok=True)
    with open(out_md, 'w') as f:
        f.write(md + '\n\n' + note + '\n')
