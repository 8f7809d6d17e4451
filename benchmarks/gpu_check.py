"""The prepared GPU check: one script, one markdown table (run through gpu_check.sh).

    python benchmarks/gpu_check.py [--device cuda] [--out DIR] [--quick]
                                   [--steps tests fusion closed_loop train]

Steps (each a subprocess with its own time limit; a failed or timed-out step is reported in
the table and the others still run):

* ``tests``: the tests marked ``cuda`` (``pytest -m cuda``);
* ``fusion``: ``benchmarks/bench_fusion.py`` on the device: VFN alone and VFN + RSC, fp32 and
  bf16 autocast, batch 1 and 16, 640x480 -> pairs/s and peak memory;
* ``closed_loop``: ``benchmarks/bench_closed_loop.py`` on the device (with ``--amp`` on CUDA):
  s/iteration of the closed-loop step, before / after, det and seg, batch 4;
* ``train``: 20 closed-loop iterations of
  ``configs/cldyn/cldyn_segformer-b0_1xb4-200_demo.py`` through ``tools/train.py`` (``--amp``
  on CUDA) on generated demo data -> s/iteration.

The table goes to stdout and, with ``--out`` (default: ``$OUT`` when set), to
``DIR/gpu_check.md`` together with each step's log. ``--quick`` shrinks every step (tiny
images, 2 iterations) so that the logic of this script can be checked on a CPU in a minute
(``tests/benchmarks/test_gpu_check.py``); the figures of a quick run mean nothing.
"""
import argparse
import glob
import json
import os
import os.path as osp
import re
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Optional

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
STEPS = ('tests', 'fusion', 'closed_loop', 'train')
TARGETS = {  # issue 11, H200: pairs/s
    ('rsc', 16): 300,
    ('rsc', 1): 100,
    ('vfn', 16): 1000,
}
FUSION_LINE = re.compile(r'^(?P<device>\S+)\s+(?P<batch>\d+)\s+'
                         r'(?P<label>VFN alone|VFN\+RSC batched)\s+(?P<ms>[\d.]+)\s+'
                         r'(?P<best>[\d.]+)\s+(?P<pps>[\d.]+)\s+(?P<peak>[\d.]+)\s*$')


class StepResult(dict):
    """``name``, ``status`` ('ok', 'failed (exit N)', 'timed out after N s', 'skipped'),
    ``seconds``, ``rows`` (table rows of this step), ``log`` (the step's output)."""


def run_step(name: str, cmd: List[str], timeout: int, env: Optional[dict] = None) -> StepResult:
    t0 = time.time()
    try:
        proc = subprocess.run(
            cmd,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={
                **os.environ,
                **(env or {})
            })
        status = 'ok' if proc.returncode == 0 else f'failed (exit {proc.returncode})'
        log = proc.stdout + proc.stderr
    except subprocess.TimeoutExpired as e:
        status = f'timed out after {timeout} s'
        log = (e.stdout or b'').decode(
            errors='replace') if isinstance(e.stdout, bytes) else (e.stdout or '')
    return StepResult(name=name, status=status, seconds=time.time() - t0, rows=[], log=log)


def parse_pytest(log: str) -> str:
    lines = [ln for ln in log.splitlines() if re.search(r'\d+ (passed|failed|skipped|error)', ln)]
    return lines[-1].strip('= ') if lines else 'no summary line'


def parse_fusion(log: str, precision: str) -> List[Dict]:
    rows = []
    for line in log.splitlines():
        m = FUSION_LINE.match(line.strip())
        if m:
            case = 'vfn' if m['label'] == 'VFN alone' else 'rsc'
            batch = int(m['batch'])
            target = TARGETS.get((case, batch))
            rows.append(
                dict(
                    case=m['label'],
                    precision=precision,
                    batch=batch,
                    pairs_per_s=float(m['pps']),
                    ms_per_pair=float(m['ms']),
                    peak_mib=float(m['peak']),
                    target=target))
    return rows


def parse_train(scalars_path: str) -> Optional[float]:
    """Mean ``time`` (s/iteration) of the logged training iterations, the first left out."""
    if not osp.isfile(scalars_path):
        return None
    times = []
    with open(scalars_path) as f:
        for line in f:
            rec = json.loads(line)
            if 'time' in rec and 'lr' in rec:
                times.append(rec['time'])
    times = times[1:] or times
    return sum(times) / len(times) if times else None


def build_steps(args, work: str) -> Dict[str, dict]:
    py = sys.executable
    cuda = args.device.startswith('cuda')
    quick = args.quick
    size = ['--height', '48', '--width', '64'] if quick else ['--height', '480', '--width', '640']
    batches = ['1', '2'] if quick else ['1', '16']
    reps = ['--repeat', '1', '--warmup', '0'] if quick else ['--repeat', '5', '--warmup', '2']
    fusion = [
        py, 'benchmarks/bench_fusion.py', '--device', args.device, '--batch-sizes', *batches,
        '--cases', 'vfn', 'rsc', *size, *reps
    ]
    if quick:
        fusion += ['--task-shape', '8', '2', '2']
    closed = [
        py, 'benchmarks/bench_closed_loop.py', '--device', args.device, '--batch', '4', '--tasks',
        'det', 'seg', '--json',
        osp.join(work, 'closed_loop.json')
    ]
    closed += (['--sizes', '64x48', '--batch', '2', '--repeat', '1', '--warmup', '0']
               if quick else ['--sizes', '320x240', '640x480', '--repeat', '3'])
    if cuda:
        closed.append('--amp')
    demo = osp.join(work, 'demo')
    iters = 2 if quick else 20
    train = [
        py, 'tools/train.py', 'configs/cldyn/cldyn_segformer-b0_1xb4-200_demo.py', '--work-dir',
        osp.join(work, 'train'), '--cfg-options', f'train_cfg.max_iters={iters}',
        f'train_cfg.val_interval={iters + 1}', 'default_hooks.logger.interval=1',
        f'default_hooks.checkpoint.interval={iters + 1}',
        f'train_dataloader.seg.dataset.data_root={demo}/',
        f'val_dataloader.seg.dataset.data_root={demo}/', 'train_dataloader.seg.num_workers=0',
        'train_dataloader.seg.persistent_workers=False'
    ]
    if cuda:
        train.append('--amp')
    make_demo = [
        py, 'tools/dataset_converters/make_demo_data.py', '--out', demo, '--num-train', '8',
        '--num-val', '2'
    ] + (['--size', '96', '64'] if quick else [])
    return dict(
        tests=dict(
            cmd=[py, '-m', 'pytest', '-q', '-m', 'cuda', '-p', 'no:cacheprovider'], timeout=240),
        fusion_fp32=dict(cmd=fusion, timeout=150),
        fusion_bf16=dict(cmd=fusion + ['--bf16'], timeout=150),
        closed_loop=dict(cmd=closed, timeout=240),
        make_demo=dict(cmd=make_demo, timeout=120),
        train=dict(cmd=train, timeout=240),
    )


def report(results: Dict[str, StepResult], args, work: str) -> str:
    lines = [f'# GPU check ({args.device}{", quick" if args.quick else ""})', '']
    lines.append(f"Device: {results.get('device', {}).get('log', '?').strip()}")
    lines += ['', '| step | status | seconds |', '|---|---|---|']
    for name, r in results.items():
        if name == 'device':
            continue
        lines.append(f"| {name} | {r['status']} | {r['seconds']:.0f} |")
    if 'tests' in results:
        lines += ['', f"CUDA tests: {parse_pytest(results['tests']['log'])}"]
    fusion_rows = []
    for prec in ('fp32', 'bf16'):
        if f'fusion_{prec}' in results:
            fusion_rows += parse_fusion(results[f'fusion_{prec}']['log'], prec)
    if fusion_rows:
        lines += [
            '', '## Fusion speed (bench_fusion.py, 640x480 unless quick)', '',
            '| case | precision | batch | pairs/s | ms/pair | peak MiB | target pairs/s |',
            '|---|---|---|---|---|---|---|'
        ]
        for r in fusion_rows:
            tgt = r['target']
            met = tgt is not None and r['pairs_per_s'] >= tgt
            mark = '' if tgt is None else f"{tgt} ({'met' if met else 'not met'})"
            lines.append(f"| {r['case']} | {r['precision']} | {r['batch']} | "
                         f"{r['pairs_per_s']:.1f} | {r['ms_per_pair']:.2f} | "
                         f"{r['peak_mib']:.0f} | {mark} |")
    if 'closed_loop' in results:
        table = [
            ln for ln in results['closed_loop']['log'].splitlines()
            if ln.startswith(('|', '- ', 'Closed-loop step'))
        ]
        if table:
            lines += ['', '## Closed-loop step (bench_closed_loop.py)', ''] + table
    if 'train' in results:
        scalars = sorted(glob.glob(osp.join(work, 'train', '*', 'vis_data', 'scalars.json')))
        spi = parse_train(scalars[-1] if scalars else '')
        lines += [
            '', '## Closed-loop training through tools/train.py', '',
            f"configs/cldyn/cldyn_segformer-b0_1xb4-200_demo.py, {'2' if args.quick else '20'} "
            f"iterations{' with --amp' if args.device.startswith('cuda') else ''}: " +
            (f'{spi:.3f} s/iteration' if spi is not None else 'no timing logged')
        ]
    return '\n'.join(lines) + '\n'


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--device', default='cuda')
    p.add_argument(
        '--out',
        default=os.environ.get('OUT') or None,
        help='folder for gpu_check.md and the step logs (default: $OUT)')
    p.add_argument('--quick', action='store_true', help='tiny sizes: checks the script only')
    p.add_argument('--steps', nargs='+', default=list(STEPS), choices=STEPS)
    p.add_argument('--work-dir', help='scratch folder (default: a temporary one)')
    args = p.parse_args(argv)
    work = args.work_dir or tempfile.mkdtemp(prefix='gpu_check_')
    os.makedirs(work, exist_ok=True)
    steps = build_steps(args, work)
    wanted = {
        'tests': ['tests'],
        'fusion': ['fusion_fp32', 'fusion_bf16'],
        'closed_loop': ['closed_loop'],
        'train': ['make_demo', 'train']
    }
    results: Dict[str, StepResult] = {}
    probe = ("import torch; d = '%s'; print(torch.cuda.get_device_name() if d.startswith('cuda')"
             " and torch.cuda.is_available() else 'cpu', '| torch', torch.__version__)" %
             args.device)
    results['device'] = run_step('device', [sys.executable, '-c', probe], 60)
    for step in args.steps:
        for name in wanted[step]:
            spec = steps[name]
            print(
                f'[gpu_check] {name}: {" ".join(spec["cmd"][1:4])} ...',
                file=sys.stderr,
                flush=True)
            results[name] = run_step(
                name, spec['cmd'], spec['timeout'], env={'PYTHONUNBUFFERED': '1'})
            print(
                f"[gpu_check] {name}: {results[name]['status']} "
                f"({results[name]['seconds']:.0f} s)",
                file=sys.stderr,
                flush=True)
    text = report(results, args, work)
    print(text)
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        with open(osp.join(args.out, 'gpu_check.md'), 'w') as f:
            f.write(text)
        logs = '\n\n'.join(f"===== {n}: {r['status']}\n{r['log'][-20000:]}"
                           for n, r in results.items())
        with open(osp.join(args.out, 'gpu_check_logs.txt'), 'w') as f:
            f.write(logs)
    return 0 if all(r['status'] == 'ok' for r in results.values()) else 1


if __name__ == '__main__':
    sys.exit(main())
