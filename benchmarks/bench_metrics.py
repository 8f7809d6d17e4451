#!/usr/bin/env python
"""Time the batched torch fusion metrics against the straightforward numpy/scipy reference.

Usage::

    python benchmarks/bench_metrics.py                   # 12 MSRS 640x480 pairs, all metrics
    python benchmarks/bench_metrics.py --pairs 4 --repeats 3 --batch-size 4

For the real pairs in ``../shared/data/ivif_pairs/MSRS`` (fused image: rounded average of IR
and VIS) it prints, per metric, the reference time (``benchmarks/_reference_metrics.py``, one
image at a time), the torch time of that metric alone (its source-side work included), their
ratio and the largest relative difference of the values over all pairs; then the total of the
reference against the torch time of the full set computed at once by
``compute_fusion_metrics`` (shared intermediates), on the CPU and, if CUDA is available, on the
GPU. The CPU is timed with one torch thread (the reference is single-threaded numpy/scipy, so
this is the like-for-like ratio) and with torch's default thread count (``--threads N`` times
N only). Torch times are the best of ``--repeats`` runs after one warm-up run; the reference is
timed once (a few minutes). On a machine shared with other jobs the figures vary by tens of
percent from run to run; the threaded torch figure suffers most.
"""
import argparse
import os
import platform
import sys
import time
from pathlib import Path

import _reference_metrics as ref  # benchmarks/, next to this script
import numpy as np
import torch

from cldyn_mm.evaluation.functional import FUSION_METRIC_NAMES, compute_fusion_metrics, load_grey

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument(
        '--data',
        default=str(
            Path(os.environ.get('CLDYN_SHARED_DATA', REPO.parent / 'shared' / 'data')) /
            'ivif_pairs' / 'MSRS'),
        help='folder with ir/ and vi/ (default: MSRS in ../shared/data or $CLDYN_SHARED_DATA)')
    p.add_argument('--pairs', type=int, default=12, help='number of pairs (sorted by stem)')
    p.add_argument('--metrics', nargs='+', default=list(FUSION_METRIC_NAMES))
    p.add_argument('--repeats', type=int, default=3, help='torch timing: best of N runs')
    p.add_argument('--batch-size', type=int, default=4, help='pairs per torch call (CPU); GPU: all')
    p.add_argument('--skip-reference', action='store_true', help='time the torch code only')
    p.add_argument(
        '--threads',
        type=int,
        default=None,
        help='torch CPU threads (default: torch\'s default, one per core); the reference is '
        'single-threaded numpy/scipy')
    return p.parse_args()


def load_pairs(folder: Path, n: int):
    if not (folder / 'ir').is_dir() or not (folder / 'vi').is_dir():
        sys.exit(f'no ir/ and vi/ folders in {folder}; pass --data (the real pairs live in '
                 '../shared/data/ivif_pairs/<dataset> next to the checkout)')
    stems = sorted(p.stem for p in (folder / 'ir').iterdir())[:n]
    if not stems:
        sys.exit(f'no pairs found in {folder}')
    A = np.stack([load_grey(next((folder / 'ir').glob(s + '.*'))) for s in stems])
    B = np.stack([load_grey(next((folder / 'vi').glob(s + '.*'))) for s in stems])
    return stems, A, B


def sync(device):
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def time_torch(A, B, F, metrics, device, batch, repeats):
    """Best-of-``repeats`` seconds for ``metrics`` over all pairs, and the values."""
    tA, tB, tF = (torch.from_numpy(x).to(device) for x in (A, B, F))
    n = A.shape[0]

    def run():
        out = {m: [] for m in metrics}
        for i in range(0, n, batch):
            res = compute_fusion_metrics(tA[i:i + batch], tB[i:i + batch], tF[i:i + batch], metrics)
            for m in metrics:
                out[m].append(res[m])
        sync(device)
        return {m: torch.cat(v).cpu().numpy() for m, v in out.items()}

    values = run()  # warm-up
    best = float('inf')
    for _ in range(repeats):
        t0 = time.perf_counter()
        values = run()
        best = min(best, time.perf_counter() - t0)
    return best, values


def max_rel_diff(got, want):
    got, want = np.asarray(got, float), np.asarray(want, float)
    return float(np.max(np.abs(got - want) / np.maximum(np.abs(want), 1e-12)))


def main():
    args = parse_args()
    default_threads = torch.get_num_threads()
    cpu_threads = [args.threads] if args.threads else sorted({1, default_threads})
    metrics = list(args.metrics)
    folder = Path(args.data)
    stems, A, B = load_pairs(folder, args.pairs)
    F = np.round((A + B) / 2)
    n, H, W = A.shape
    print(f'fusion metrics benchmark: {n} pairs of {W}x{H} from {folder} (F = rounded average)')
    print(f'CPU: {platform.processor() or platform.machine()}, {os.cpu_count()} logical cores; '
          f'torch {torch.__version__}, float64; torch CPU threads timed: {cpu_threads}; '
          'reference: numpy/scipy (single-threaded code), timed once')

    ref_times, ref_values = {}, {}
    if not args.skip_reference:
        for m in metrics:
            fn = ref.REFERENCE_METRICS[m]
            t0 = time.perf_counter()
            ref_values[m] = np.array([fn(A[i], B[i], F[i]) for i in range(n)])
            ref_times[m] = time.perf_counter() - t0
            print(f'  reference {m:5s} {ref_times[m]:8.2f} s', flush=True)

    runs = [(torch.device('cpu'), t) for t in cpu_threads]
    if torch.cuda.is_available():
        runs.append((torch.device('cuda'), default_threads))
    summary = []
    for device, threads in runs:
        torch.set_num_threads(threads)
        batch = args.batch_size if device.type == 'cpu' else n
        single = {}
        for m in metrics:
            single[m], vals = time_torch(A, B, F, [m], device, batch, args.repeats)
        total, values = time_torch(A, B, F, metrics, device, batch, args.repeats)
        if device.type == 'cuda':
            name = torch.cuda.get_device_name(device)
        else:
            name = f'CPU, {threads} thread{"s" if threads > 1 else ""}'
        print(f'\n== torch on {name} (batch {batch}) ==')
        head = f'{"metric":6s} {"reference s":>12s} {"torch s":>10s} {"ratio":>8s} ' \
               f'{"max rel diff":>13s}'
        print(head)
        print('-' * len(head))
        for m in metrics:
            if ref_times:
                print(f'{m:6s} {ref_times[m]:12.3f} {single[m]:10.4f} '
                      f'{ref_times[m] / single[m]:7.1f}x '
                      f'{max_rel_diff(values[m], ref_values[m]):13.2e}')
            else:
                print(f'{m:6s} {"-":>12s} {single[m]:10.4f}')
        print('-' * len(head))
        print(f'{"sum of single-metric torch times":33s} {sum(single.values()):10.4f} s')
        print(f'{"full set at once (shared work)":33s} {total:10.4f} s '
              f'({total / n * 1000:.1f} ms per pair)')
        line = f'{name}: {total / n * 1000:.1f} ms per pair'
        if ref_times:
            ref_total = sum(ref_times.values())
            worst = max(max_rel_diff(values[m], ref_values[m]) for m in metrics)
            print(f'{"reference total":33s} {ref_total:10.2f} s '
                  f'({ref_total / n * 1000:.1f} ms per pair)')
            print(f'speed-up of the full set: {ref_total / total:.1f}x; largest relative '
                  f'difference over all metrics and pairs: {worst:.2e} '
                  f'({"within" if worst <= 1e-4 else "NOT within"} 1e-4)')
            line += f', {ref_total / total:.1f}x the reference ({ref_total / n * 1000:.0f} ms ' \
                    f'per pair), max rel diff {worst:.1e}'
        summary.append(line)
    print('\n== summary ==')
    for line in summary:
        print(line)


if __name__ == '__main__':
    main()
