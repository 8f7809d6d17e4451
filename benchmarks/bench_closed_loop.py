"""Seconds per closed-loop iteration, phase by phase, before and after the step was sped up.

    python benchmarks/bench_closed_loop.py [--tasks det seg] [--sizes 320x240 640x480]
                                           [--batch 4] [--repeat 2] [--warmup 1]
                                           [--threads 1] [--device cpu] [--amp] [--bf16]
                                           [--json OUT.json]

One ``ClosedLoopCLDyN`` per task with the project's task networks (RTMDet-tiny for ``det``,
SegFormer-b0 for ``seg``; random weights, which does not change the work done), the default
CLDyN fuser (RSC zero convs made non-zero, so that the compensation is not the identity;
deterministic set choice, so that the two variants can be compared) and a synthetic batch of
``--batch`` pairs (random pixels; 5 boxes per image for detection, random class maps for
segmentation).

Two variants of the same model are timed, their runs interleaved in one process (a change of
the machine's load hits both alike):

* ``before``: the task part of the step as it was before the speed-up (issue 11), kept here as
  :func:`step_before`: F0 = VFN(inputs), T = ``task_feature(F0)``, L0 = ``loss(F0)`` (a second
  pass of the task network), F1 = CLDyN(inputs, T) recomputing the VFN's first encoder block;
* ``after``: ``ClosedLoopCLDyN.task_losses`` as it is: the first encoder block computed once for
  F0 and F1, L0 and T from one pass of the task network (``loss_and_feature``).

Both then run the same rest of ``train_step``: the update of ``MultiTaskOptimWrapper``
(per-task gradient, CAGrad combination, clipping, Adam step). Before timing, the two variants'
L0, L1, loss and gradients (all RSC + bank parameters) are computed from the same state and
compared (max relative difference).

Printed: a markdown table with the mean and best seconds per iteration and the time of each
phase (``torch.profiler`` ranges of the model, from one extra profiled iteration per variant:
``frozen_path`` F0 / T / L0, ``compensated_fusion`` F1, ``task_loss`` L1, ``backward``,
``combine_and_clip``, ``optimizer_step``), the speed-up, and the machine.
"""
import argparse
import copy
import json
import os.path as osp
import platform
import sys
import time

import torch
from mmengine.config import Config
from mmengine.structures import InstanceData, PixelData
from torch.profiler import ProfilerActivity, profile, record_function

from cldyn_mm.engine.optimizers import AmpMultiTaskOptimWrapper, MultiTaskOptimWrapper
from cldyn_mm.engine.optimizers.multitask_optim_wrapper import UPDATE_PHASES
from cldyn_mm.models.closed_loop.closed_loop_cldyn import PHASES as MODEL_PHASES
from cldyn_mm.models.losses.reward_penalty_loss import reward_penalty_loss
from cldyn_mm.registry import MODELS
from cldyn_mm.utils import register_all_modules

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
TASK_CONFIGS = {
    'det': ('configs/_base_/task_models/rtmdet_tiny_adapter.py', 'det_task_adapter'),
    'seg': ('configs/_base_/task_models/segformer_b0_adapter.py', 'seg_task_adapter'),
}
VARIANTS = ('before', 'after')
# the profiler ranges: the model's forward phases and the optimizer wrapper's update phases
PHASES = {**MODEL_PHASES, **UPDATE_PHASES}


def step_before(self, task, inputs, data_samples):
    """The task part of a closed-loop step before issue 11 (the reference of this benchmark),
    with the model's phase ranges: each of F0, T and L0 from its own pass."""
    adapter = self._adapter(task)
    with torch.no_grad(), record_function(PHASES['frozen']):
        plain = self.fuser.fuse(inputs)['fused']
        feat = adapter.task_feature(plain)
        loss_plain = adapter.total_loss(adapter.loss(plain, data_samples)).detach()
    with record_function(PHASES['compensated']):
        comp = self.fuser.fuse(inputs, task_feat=feat)['fused']
    with record_function(PHASES['task_loss']):
        loss_comp = adapter.total_loss(adapter.loss(comp, data_samples))
    loss = reward_penalty_loss(loss_comp, loss_plain, self.penalty_weight)
    return dict(
        loss=loss,
        loss_plain=loss_plain,
        loss_comp=loss_comp,
        penalty=torch.relu(loss_comp.detach() - loss_plain))


def build_model(task: str, bf16: bool) -> torch.nn.Module:
    fuser = Config.fromfile(osp.join(REPO, 'configs/_base_/models/cldyn_fuser.py')).cldyn_fuser
    fuser = fuser.to_dict()
    fuser['rsc']['gumbel_noise'] = False
    path, key = TASK_CONFIGS[task]
    adapter = Config.fromfile(osp.join(REPO, path))[key].to_dict()
    torch.manual_seed(0)
    model = MODELS.build(
        dict(type='ClosedLoopCLDyN', fuser=fuser, tasks={task: adapter}, bf16_autocast=bf16))
    with torch.no_grad():
        for chain in (model.fuser.rsc_ir, model.fuser.rsc_vis):
            for name, p in chain.named_parameters():
                if 'zero_conv' in name:
                    p.normal_(0, 0.05)
    return model.train()


def make_batch(task: str, n: int, width: int, height: int, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    inputs = [
        torch.randint(0, 256, (4, height, width), generator=g, dtype=torch.uint8) for _ in range(n)
    ]
    samples = []
    for _ in range(n):
        meta = dict(img_shape=(height, width), ori_shape=(height, width), scale_factor=(1., 1.))
        if task == 'det':
            from mmdet.structures import DetDataSample
            s = DetDataSample(metainfo=meta)
            xy = torch.rand(5, 2, generator=g) * torch.tensor([width * 0.8, height * 0.8])
            wh = 8 + torch.rand(5, 2, generator=g) * torch.tensor([width, height]) * 0.15
            s.gt_instances = InstanceData(
                bboxes=torch.cat([xy, xy + wh], 1), labels=torch.randint(0, 3, (5, ), generator=g))
        else:
            from mmseg.structures import SegDataSample
            s = SegDataSample(metainfo=meta)
            s.gt_sem_seg = PixelData(data=torch.randint(0, 6, (1, height, width), generator=g))
        samples.append(s)
    return dict(inputs=inputs, data_samples=samples)


def variant(model, name: str):
    """A copy of ``model`` whose step runs the ``name`` variant."""
    m = copy.deepcopy(model)
    if name == 'before':
        m.task_losses = step_before.__get__(m)
    return m


def optim_wrapper(model, amp: bool):
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=0.01, weight_decay=1e-4)
    if amp:
        return AmpMultiTaskOptimWrapper(optimizer=optimizer, dtype='bfloat16')
    return MultiTaskOptimWrapper(optimizer)


def compare(models: dict, task: str, batch: dict) -> dict:
    """Max relative differences of L0, L1, loss and gradients between the variants, from the
    same state (before any step)."""
    out = {}
    for name, model in models.items():
        m = copy.deepcopy(model)
        data = m.data_preprocessor(batch, True)
        res = m.task_losses(task, data['inputs'], data['data_samples'])
        params = m.trainable_parameters()
        grads = torch.autograd.grad(res['loss'], params, allow_unused=True)
        flat = torch.cat([
            torch.zeros(p.numel()) if g is None else g.detach().reshape(-1).cpu()
            for p, g in zip(params, grads)
        ])
        out[name] = dict(
            L0=float(res['loss_plain']),
            L1=float(res['loss_comp']),
            loss=float(res['loss']),
            grad=flat.double())
    a, b = out['before'], out['after']

    def rel(x, y):
        return abs(x - y) / max(abs(x), 1e-12)

    return dict(
        L0=rel(a['L0'], b['L0']),
        L1=rel(a['L1'], b['L1']),
        loss=rel(a['loss'], b['loss']),
        grad=float((a['grad'] - b['grad']).norm() / a['grad'].norm().clamp_min(1e-30)),
        grad_max=float(
            ((a['grad'] - b['grad']).abs().max() / a['grad'].abs().max().clamp_min(1e-30))))


def sync(device: str) -> None:
    if device.startswith('cuda'):
        torch.cuda.synchronize()


def timed_step(model, ow, batch, task, device):
    sync(device)
    t0 = time.perf_counter()
    model.train_step({task: batch}, ow)
    sync(device)
    return time.perf_counter() - t0


def phase_times(model, ow, batch, task, device) -> dict:
    activities = [ProfilerActivity.CPU]
    if device.startswith('cuda'):
        activities.append(ProfilerActivity.CUDA)
    with profile(activities=activities) as prof:
        model.train_step({task: batch}, ow)
        sync(device)
    names = {v: k for k, v in PHASES.items()}
    times = {}
    for evt in prof.key_averages():
        if evt.key in names:
            times[names[evt.key]] = evt.cpu_time_total / 1e6
    return times


def run_case(task, width, height, args) -> dict:
    base = build_model(task, args.bf16).to(args.device)
    batch = make_batch(task, args.batch, width, height)
    models = {v: variant(base, v) for v in VARIANTS}
    diffs = compare(models, task, batch)
    wrappers = {v: optim_wrapper(m, args.amp) for v, m in models.items()}
    for _ in range(args.warmup):
        for v in VARIANTS:
            timed_step(models[v], wrappers[v], batch, task, args.device)
    times = {v: [] for v in VARIANTS}
    for _ in range(args.repeat):
        for v in VARIANTS:
            times[v].append(timed_step(models[v], wrappers[v], batch, task, args.device))
    phases = {v: phase_times(models[v], wrappers[v], batch, task, args.device) for v in VARIANTS}
    peak = None
    if args.device.startswith('cuda'):
        peak = torch.cuda.max_memory_allocated() / 2**20
    return dict(
        task=task,
        size=f'{width}x{height}',
        batch=args.batch,
        diffs=diffs,
        times=times,
        phases=phases,
        peak_mib=peak)


def machine(args) -> str:
    if args.device.startswith('cuda'):
        dev = torch.cuda.get_device_name()
    else:
        cpu = platform.processor() or 'cpu'
        try:
            with open('/proc/cpuinfo') as f:
                cpu = next(
                    line.split(':', 1)[1].strip() for line in f if line.startswith('model name'))
        except (OSError, StopIteration):
            pass
        dev = f'{cpu}, {torch.get_num_threads()} thread(s)'
    prec = 'bf16 autocast' if args.bf16 else ('AMP bf16' if args.amp else 'fp32')
    return f'{dev}; torch {torch.__version__}; {prec}; batch {args.batch}'


def table(results, args) -> str:
    cols = ['frozen', 'compensated', 'task_loss', 'backward', 'combine', 'step']
    lines = [
        f'Closed-loop step, {machine(args)}', '',
        '| task | size | variant | s/iter mean | best | ' + ' | '.join(cols) +
        ' | speed-up (mean) |', '|' + '---|' * (len(cols) + 6)
    ]
    for r in results:
        mean = {v: sum(t) / len(t) for v, t in r['times'].items()}
        for v in VARIANTS:
            ph = [f"{r['phases'][v].get(c, 0.0):.2f}" for c in cols]
            speed = f"{mean['before'] / mean['after']:.2f}x" if v == 'after' else ''
            lines.append(f"| {r['task']} | {r['size']} | {v} | {mean[v]:.2f} | "
                         f"{min(r['times'][v]):.2f} | " + ' | '.join(ph) + f' | {speed} |')
    lines += ['', 'Agreement of the variants (relative differences, same state):', '']
    for r in results:
        d = r['diffs']
        lines.append(f"- {r['task']} {r['size']}: L0 {d['L0']:.1e}, L1 {d['L1']:.1e}, "
                     f"loss {d['loss']:.1e}, gradient (norm of difference / norm) "
                     f"{d['grad']:.1e}, largest entry {d['grad_max']:.1e}")
    if any(r['peak_mib'] for r in results):
        lines.append('')
        lines += [
            f"- peak GPU memory {r['task']} {r['size']}: {r['peak_mib']:.0f} MiB" for r in results
            if r['peak_mib']
        ]
    return '\n'.join(lines)


def parse_size(text: str):
    try:
        w, h = (int(v) for v in text.lower().split('x'))
    except ValueError:
        raise argparse.ArgumentTypeError(f'size must be WIDTHxHEIGHT, got {text!r}') from None
    return w, h


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--tasks', nargs='+', default=['det', 'seg'], choices=list(TASK_CONFIGS))
    p.add_argument('--sizes', nargs='+', type=parse_size, default=[(320, 240), (640, 480)])
    p.add_argument('--batch', type=int, default=4)
    p.add_argument('--repeat', type=int, default=2, help='timed iterations per variant')
    p.add_argument('--warmup', type=int, default=1, help='untimed iterations per variant')
    p.add_argument('--threads', type=int, default=0, help='torch threads (0: torch default)')
    p.add_argument('--device', default='cpu')
    p.add_argument('--amp', action='store_true', help='AmpMultiTaskOptimWrapper (bf16), CUDA only')
    p.add_argument('--bf16', action='store_true', help='model.bf16_autocast=True')
    p.add_argument('--json', help='also write the results as JSON to this file')
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.amp and not args.device.startswith('cuda'):
        p.error('--amp needs --device cuda (it measures CUDA mixed precision); use --bf16 on '
                'a CPU')
    register_all_modules(init_default_scope=True)
    results = []
    for task in args.tasks:
        for width, height in args.sizes:
            results.append(run_case(task, width, height, args))
            print(f'done: {task} {width}x{height}', file=sys.stderr, flush=True)
    text = table(results, args)
    print(text)
    if args.json:
        for r in results:
            r['diffs'] = {k: float(v) for k, v in r['diffs'].items()}
        with open(args.json, 'w') as f:
            json.dump(dict(machine=machine(args), results=results), f, indent=1)
    return results


if __name__ == '__main__':
    main()
