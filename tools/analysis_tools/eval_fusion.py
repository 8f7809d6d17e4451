#!/usr/bin/env python
"""Score folders of fused images with the fusion-quality metrics (docs/metrics.md).

Example::

    python tools/analysis_tools/eval_fusion.py --ir data/MSRS/ir --vi data/MSRS/vi \\
        --fused work_dirs/cldyn/fused --fused results/seafusion --out work_dirs/eval_msrs --plot

Images are paired by file stem (``00012N.png`` in ``--ir`` with ``00012N.jpg`` in ``--vi``,
extensions .png .jpg .jpeg .bmp .tif .tiff, case-insensitive); each triple is read with the
metrics' grey convention (OpenCV BGR->GRAY, rounded). Triples of equal size are scored in
batches; any sizes are fine. Writes to ``--out``:

* ``per_image.csv``: ``method, stem, <metric>...`` one row per fused image;
* ``summary.csv`` and ``summary.md``: the mean per method and metric (``summary.md`` also marks
  the direction of each metric and the best method);
* ``summary.png`` with ``--plot``: one bar chart per metric, one bar per method.

A method is named after its fused folder unless ``--names`` is given. The tool imports only
torch, numpy and OpenCV (not the MMEngine registries), so it starts quickly.
"""
import argparse
import csv
import importlib.util
import math
import os
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence

_REPO = Path(__file__).resolve().parents[2]


def _functional():
    """``cldyn_mm.evaluation.functional`` without running ``cldyn_mm/evaluation/__init__.py``.

    That package ``__init__`` also registers the MMEngine metrics, which imports MMEngine
    (seconds of start-up this tool does not need). The functional package only needs
    torch/numpy/OpenCV, so it is loaded from its folder under a private name; outside a
    source checkout the normal import is used.
    """
    if 'cldyn_mm.evaluation.functional' in sys.modules:
        return sys.modules['cldyn_mm.evaluation.functional']
    pkg_dir = _REPO / 'cldyn_mm' / 'evaluation' / 'functional'
    if not (pkg_dir / '__init__.py').is_file():  # pragma: no cover - installed package
        import cldyn_mm.evaluation.functional as functional
        return functional
    name = '_cldyn_mm_fusion_functional'
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(
        name, pkg_dir / '__init__.py', submodule_search_locations=[str(pkg_dir)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    fn = _functional()
    parser = argparse.ArgumentParser(
        description='Fusion-quality metrics of fused images against IR/VIS sources.',
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('--ir', required=True, help='folder of infrared images')
    parser.add_argument('--vi', required=True, help='folder of visible images')
    parser.add_argument(
        '--fused', required=True, action='append', help='folder of fused images (repeatable)')
    parser.add_argument('--out', required=True, help='output folder')
    parser.add_argument(
        '--metrics',
        nargs='+',
        default=list(fn.FUSION_METRIC_NAMES),
        help='metrics to compute (case-insensitive)')
    parser.add_argument('--names', nargs='+', help='method names, one per --fused')
    parser.add_argument('--device', default='cpu', help="torch device, e.g. 'cpu' or 'cuda'")
    parser.add_argument(
        '--batch-size', type=int, default=4, help='triples of equal size scored together')
    parser.add_argument(
        '--qcv-alpha',
        type=float,
        default=fn.QCV_ALPHA,
        help='Qcv saliency exponent (the spec: 1; VIFB MATLAB code: 5)')
    parser.add_argument('--threads', type=int, help="torch CPU threads (default: torch's default)")
    parser.add_argument(
        '--plot', action='store_true', help='also write summary.png (needs matplotlib)')
    parser.add_argument('--no-progress', action='store_true', help='no progress bar')
    return parser.parse_args(argv)


def list_images(folder: str, role: str) -> Dict[str, Path]:
    """``{stem: path}`` of the images in ``folder``; errors name the folder and its role."""
    fn = _functional()
    path = Path(folder)
    if not path.is_dir():
        raise FileNotFoundError(f'{role} folder not found: {folder}')
    out: Dict[str, Path] = {}
    for f in sorted(path.iterdir()):
        if not f.is_file() or f.suffix.lower() not in fn.IMAGE_EXTENSIONS:
            continue
        if f.stem in out:
            raise ValueError(f'{role} folder {folder} has two images with stem {f.stem!r}: '
                             f'{out[f.stem].name} and {f.name}')
        out[f.stem] = f
    if not out:
        raise ValueError(f'{role} folder {folder} contains no images '
                         f'({", ".join(fn.IMAGE_EXTENSIONS)})')
    return out


def _fmt_stems(stems) -> str:
    stems = sorted(stems)
    shown = ', '.join(stems[:20])
    return shown + (f', ... ({len(stems)} in all)' if len(stems) > 20 else '')


def pair_stems(ir: Dict[str, Path], vi: Dict[str, Path], fused: Dict[str, Dict[str, Path]],
               ir_dir: str, vi_dir: str, fused_dirs: Dict[str, str]) -> List[str]:
    """The common stems; raises ``ValueError`` naming every stem that lacks a partner."""
    problems = []
    only_ir = set(ir) - set(vi)
    only_vi = set(vi) - set(ir)
    if only_ir:
        problems.append(f'in --ir {ir_dir} but not in --vi {vi_dir}: {_fmt_stems(only_ir)}')
    if only_vi:
        problems.append(f'in --vi {vi_dir} but not in --ir {ir_dir}: {_fmt_stems(only_vi)}')
    sources = set(ir) & set(vi)
    for method, images in fused.items():
        missing = sources - set(images)
        extra = set(images) - (set(ir) | set(vi))
        if missing:
            problems.append(f'fused folder {fused_dirs[method]} ({method}) lacks '
                            f'{_fmt_stems(missing)}')
        if extra:
            problems.append(f'fused folder {fused_dirs[method]} ({method}) has images without '
                            f'IR/VIS partners: {_fmt_stems(extra)}')
    if problems:
        raise ValueError('unpaired images by file stem:\n  ' + '\n  '.join(problems))
    return sorted(sources)


def method_names(fused_dirs: Sequence[str], names: Optional[Sequence[str]]) -> List[str]:
    if names is None:
        names = [Path(d).resolve().name for d in fused_dirs]
        if len(set(names)) != len(names):
            raise ValueError(f'fused folders {list(fused_dirs)} share a folder name; give '
                             'distinct method names with --names')
        return names
    if len(names) != len(fused_dirs):
        raise ValueError(f'--names has {len(names)} names but --fused was given '
                         f'{len(fused_dirs)} times')
    if len(set(names)) != len(names):
        raise ValueError(f'--names must be distinct, got {list(names)}')
    return list(names)


def evaluate(args: argparse.Namespace) -> Dict[str, Dict[str, Dict[str, float]]]:
    """Run the evaluation and write the outputs; returns ``{method: {stem: {metric: v}}}``."""
    import numpy as np
    import torch
    fn = _functional()
    if args.plot:
        check_plot_available()
    metrics = fn.resolve_metric_names(args.metrics)
    methods = method_names(args.fused, args.names)
    if args.batch_size < 1:
        raise ValueError(f'--batch-size must be >= 1, got {args.batch_size}')
    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    ir = list_images(args.ir, '--ir')
    vi = list_images(args.vi, '--vi')
    fused = {m: list_images(d, f'--fused ({m})') for m, d in zip(methods, args.fused)}
    stems = pair_stems(ir, vi, fused, args.ir, args.vi, dict(zip(methods, args.fused)))

    results: Dict[str, Dict[str, Dict[str, float]]] = {m: {} for m in methods}
    buckets: Dict[tuple, List[tuple]] = {}
    progress = None
    if not args.no_progress:
        from tqdm import tqdm
        progress = tqdm(total=len(stems), desc='eval_fusion', unit='img')

    def flush(items: List[tuple]) -> None:
        A = torch.from_numpy(np.stack([it[1] for it in items])).to(device)
        B = torch.from_numpy(np.stack([it[2] for it in items])).to(device)
        sources = fn.FusionSources(A, B, qcv_alpha=args.qcv_alpha)
        for m in methods:
            imgs = []
            for stem, a, _ in items:
                f = fn.load_grey(fused[m][stem])
                if f.shape != a.shape:
                    raise ValueError(f'size mismatch for stem {stem!r}: fused {fused[m][stem]} '
                                     f'is {f.shape[1]}x{f.shape[0]} but infrared {ir[stem]} is '
                                     f'{a.shape[1]}x{a.shape[0]} (W x H)')
                imgs.append(f)
            values = sources.evaluate(torch.from_numpy(np.stack(imgs)).to(device), metrics)
            values = {k: v.cpu().tolist() for k, v in values.items()}
            for pos, (stem, _, _) in enumerate(items):
                results[m][stem] = {k: values[k][pos] for k in metrics}
        if progress is not None:
            progress.update(len(items))

    for stem in stems:
        a = fn.load_grey(ir[stem])
        b = fn.load_grey(vi[stem])
        if a.shape != b.shape:
            raise ValueError(f'size mismatch for stem {stem!r}: infrared {ir[stem]} is '
                             f'{a.shape[1]}x{a.shape[0]} but visible {vi[stem]} is '
                             f'{b.shape[1]}x{b.shape[0]} (W x H)')
        bucket = buckets.setdefault(a.shape, [])
        bucket.append((stem, a, b))
        if len(bucket) >= args.batch_size:
            flush(bucket)
            buckets[a.shape] = []
    for bucket in buckets.values():
        if bucket:
            flush(bucket)
    if progress is not None:
        progress.close()

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_outputs(out, results, methods, stems, metrics, plot=args.plot)
    return results


def _num(v: float) -> str:
    return format(v, '.10g')


def write_outputs(out: Path, results, methods: List[str], stems: List[str], metrics: Sequence[str],
                  plot: bool) -> Dict[str, Dict[str, float]]:
    """Write per_image.csv, summary.csv, summary.md (and summary.png); return the means."""
    fn = _functional()
    with open(out / 'per_image.csv', 'w', newline='') as f:
        w = csv.writer(f)
        w.writerow(['method', 'stem', *metrics])
        for m in methods:
            for stem in stems:
                w.writerow([m, stem, *(_num(results[m][stem][k]) for k in metrics)])
    means = {
        m: {
            k: float(sum(results[m][s][k] for s in stems) / len(stems))
            for k in metrics
        }
        for m in methods
    }
    with open(out / 'summary.csv', 'w', newline='') as f:
        w = csv.writer(f)
        w.writerow(['method', *metrics])
        for m in methods:
            w.writerow([m, *(_num(means[m][k]) for k in metrics)])

    def arrow(k):
        return '↑' if fn.FUSION_METRIC_INFO[k].higher_is_better else '↓'

    def best(k):
        vals = [(means[m][k], m) for m in methods if not math.isnan(means[m][k])]
        if len(methods) < 2 or not vals:
            return None
        return (max(vals) if fn.FUSION_METRIC_INFO[k].higher_is_better else min(vals))[1]

    lines = [
        f'# Fusion metrics: mean over {len(stems)} images', '',
        '| method | ' + ' | '.join(f'{k} {arrow(k)}' for k in metrics) + ' |',
        '|---|' + '---:|' * len(metrics)
    ]
    winners = {k: best(k) for k in metrics}
    for m in methods:
        cells = []
        for k in metrics:
            cell = f'{means[m][k]:.4f}'
            cells.append(f'**{cell}**' if winners[k] == m else cell)
        lines.append(f'| {m} | ' + ' | '.join(cells) + ' |')
    lines += [
        '',
        '↑ higher is better, ↓ lower is better' + (', best in bold.' if len(methods) > 1 else '.'),
        'Conventions: docs/metrics.md (MI in nats summed over both sources, VIF and SSIM '
        'summed over both sources).', ''
    ]
    (out / 'summary.md').write_text('\n'.join(lines), encoding='utf-8')
    if plot:
        plot_summary(out / 'summary.png', means, methods, metrics)
    return means


def check_plot_available() -> None:
    """Raise ``ImportError`` with an install hint unless matplotlib can be imported."""
    try:
        import matplotlib  # noqa: F401
    except ImportError as e:
        raise ImportError('--plot needs matplotlib, which is not installed in this Python '
                          f'({sys.executable}); install it with `pip install matplotlib` '
                          'or leave out --plot') from e


def plot_summary(path: Path, means, methods: List[str], metrics: Sequence[str]) -> None:
    """Bar chart: one subplot per metric, one bar per method."""
    check_plot_available()
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fn = _functional()
    cols = min(5, len(metrics))
    rows = math.ceil(len(metrics) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.8 * rows), squeeze=False)
    colours = [plt.cm.tab10(i % 10) for i in range(len(methods))]
    for ax, k in zip(axes.flat, metrics):
        vals = [means[m][k] for m in methods]
        ax.bar(range(len(methods)), vals, color=colours)
        ax.set_title(
            f'{k} ({"higher" if fn.FUSION_METRIC_INFO[k].higher_is_better else "lower"}'
            ' is better)',
            fontsize=9)
        ax.set_xticks(range(len(methods)))
        ax.set_xticklabels(methods, rotation=30, ha='right', fontsize=8)
        ax.tick_params(axis='y', labelsize=8)
    for ax in list(axes.flat)[len(metrics):]:
        ax.axis('off')
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    try:
        evaluate(args)
    except (ValueError, FileNotFoundError, ImportError) as e:
        print(f'eval_fusion: error: {e}', file=sys.stderr)
        return 2
    print((Path(args.out) / 'summary.md').read_text(encoding='utf-8'))
    print(f'wrote {os.path.join(args.out, "per_image.csv")}, summary.csv, summary.md' +
          (', summary.png' if args.plot else ''))
    return 0


if __name__ == '__main__':
    sys.exit(main())
