"""Speed of the exported ONNX graphs on onnxruntime (CPU) next to PyTorch, same machine.

    python benchmarks/bench_onnx.py [--height 480 --width 640] [--batch 1]
                                    [--task-shape 512 15 20] [--repeat 3] [--warmup 1]
                                    [--threads N] [--models vfn cldyn] [--opset 17]

For each model (VFNFuser of configs/vfn/vfn_1xb8-200_demo.py, CLDyNFuser of
configs/cldyn/cldyn_vfn-rsc_pairs.py, seeded weights with random BN statistics and non-zero zero
convs as in benchmarks/bench_fusion.py), three cases on the same inputs:

* ``pytorch``: the model as trained and used by tools/fuse.py (``fuser.fuse``, eval mode);
* ``pytorch-export``: the export formulation (:class:`ExportFuser`) run in PyTorch, to see
  what the formulation itself costs;
* ``onnxruntime``: the exported file on onnxruntime's CPU execution provider (all graph
  optimisations, ``--threads`` intra-op threads).

Wall-clock milliseconds per image pair (mean and best of ``--repeat`` timed runs after
``--warmup``; the first, untimed run also gives the largest absolute difference to ``pytorch``;
the cases' runs are interleaved so that a change of the machine's load hits all alike),
pairs/s from the mean wall time, and the process CPU time per pair (mean; on a machine shared
with other jobs this is the load-independent figure at ``--threads 1``: with more threads it
also counts the threads' spin-waiting). The machine (CPU model, cores, AVX flags, load
average) and the library versions are printed with the table. docs/deployment.md holds a
measured table.
"""
import argparse
import os
import os.path as osp
import platform
import tempfile
import time

import torch
import torch.nn as nn

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='onnxruntime vs PyTorch speed of the fusers')
    p.add_argument('--height', type=int, default=480)
    p.add_argument('--width', type=int, default=640)
    p.add_argument('--batch', type=int, default=1)
    p.add_argument('--task-shape', type=int, nargs=3, default=[512, 15, 20])
    p.add_argument('--repeat', type=int, default=3)
    p.add_argument('--warmup', type=int, default=1)
    p.add_argument(
        '--threads',
        type=int,
        default=None,
        help='intra-op threads of torch and onnxruntime (default: the CPU count)')
    p.add_argument('--models', nargs='+', default=['vfn', 'cldyn'], choices=['vfn', 'cldyn'])
    p.add_argument('--opset', type=int, default=17)
    return p.parse_args(argv)


def build_vfn(seed: int = 0):
    """VFNFuser of configs/vfn/vfn_1xb8-200_demo.py with seeded weights and random BN statistics."""
    from mmengine.config import Config

    from cldyn_mm.registry import MODELS
    from cldyn_mm.utils import register_all_modules
    register_all_modules(init_default_scope=True)
    torch.manual_seed(seed)
    config = osp.join(ROOT, 'configs', 'vfn', 'vfn_1xb8-200_demo.py')
    model = MODELS.build(Config.fromfile(config).model)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(0.1 * torch.randn(m.running_mean.shape, generator=g))
                m.running_var.copy_(0.5 + torch.rand(m.running_var.shape, generator=g))
    return model.eval()


def build_cldyn(seed: int = 0):
    from bench_fusion import build_model
    return build_model(seed)


def machine_info(threads: int) -> str:
    cpu = platform.processor() or 'unknown CPU'
    flags = set()
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    cpu = line.split(':', 1)[1].strip()
                elif line.startswith('flags'):
                    flags = set(line.split(':', 1)[1].split())
                    break
    except OSError:
        pass
    simd = [
        f for f in ('avx2', 'fma', 'avx512f', 'avx512_vnni', 'avx512_bf16', 'amx_tile')
        if f in flags
    ]
    load = ' '.join(f'{x:.2f}' for x in os.getloadavg()) if hasattr(os, 'getloadavg') else '?'
    import onnxruntime as ort
    return (f'{cpu}, {os.cpu_count()} logical CPUs ({", ".join(simd) or "no AVX2"}), '
            f'load average {load} at start; {threads} thread(s); Python '
            f'{platform.python_version()}, torch {torch.__version__}, onnxruntime '
            f'{ort.__version__}')


def main(argv=None):
    args = parse_args(argv)
    from cldyn_mm.deployment.onnx_export import (ExportFuser, dummy_inputs, export_onnx,
                                                 max_abs_diff, onnx_session, run_onnx,
                                                 torch_reference)
    threads = args.threads or os.cpu_count()
    torch.set_num_threads(threads)
    print(machine_info(threads))
    shape = (args.height, args.width)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for kind in args.models:
            fuser = build_vfn() if kind == 'vfn' else build_cldyn()
            path = osp.join(tmp, f'{kind}.onnx')
            t0 = time.time()
            export_onnx(fuser, path, (64, 80), args.opset, (16, 5, 7))  # axes are dynamic
            export_s = time.time() - t0
            print(
                f'{kind}: exported in {export_s:.1f} s ({osp.getsize(path) / 2**20:.1f} MiB)',
                flush=True)
            session = onnx_session(path, threads)
            wrapper = ExportFuser(fuser).eval()
            inputs = dummy_inputs(kind, shape, args.task_shape, batch=args.batch, seed=1)

            def run_export(x=inputs, w=wrapper):
                with torch.no_grad():
                    return list(w(*x))

            cases = {
                'pytorch': lambda x=inputs, f=fuser: torch_reference(f, x),
                'pytorch-export': run_export,
                'onnxruntime': lambda x=inputs, s=session: run_onnx(s, x),
            }
            ref = cases['pytorch']()
            diffs = {name: max_abs_diff(ref, fn()) for name, fn in cases.items()}
            for _ in range(args.warmup - 1):
                for fn in cases.values():
                    fn()
            times = {name: [] for name in cases}
            cpu = {name: [] for name in cases}
            for _ in range(args.repeat):
                for name, fn in cases.items():
                    t0, c0 = time.perf_counter(), time.process_time()
                    fn()
                    times[name].append((time.perf_counter() - t0) / args.batch)
                    cpu[name].append((time.process_time() - c0) / args.batch)
            for name in cases:
                mean = sum(times[name]) / len(times[name])
                rows.append((kind, name, mean * 1e3, min(times[name]) * 1e3, 1 / mean,
                             sum(cpu[name]) / len(cpu[name]) * 1e3, diffs[name]))
            print(f'{kind}: timed', flush=True)
    print(f'\n{args.width}x{args.height}, batch {args.batch}' +
          (f', task feature {tuple(args.task_shape)}' if 'cldyn' in args.models else '') +
          f', {args.repeat} timed runs after {args.warmup} warm-up\n')
    print('| model | runtime | wall ms/pair (mean) | wall ms/pair (best) | pairs/s | '
          'CPU ms/pair | max abs diff |')
    print('|---|---|---|---|---|---|---|')
    for kind, name, mean, best, rate, cpu_ms, diff in rows:
        print(f'| {kind} | {name} | {mean:.0f} | {best:.0f} | {rate:.2f} | {cpu_ms:.0f} | '
              f'{diff:.1e} |')
    print(f'\nload average at the end: {" ".join(f"{x:.2f}" for x in os.getloadavg())}')
    return rows


if __name__ == '__main__':
    main()
