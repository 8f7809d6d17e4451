"""Speed and peak memory of VFN alone, VFN + RSC (batched) and the per-sample loop reference.

    python benchmarks/bench_fusion.py [--height 480 --width 640] [--batch-sizes 1 8]
                                      [--task-shape 512 15 20] [--repeat 3] [--warmup 1]
                                      [--threads N] [--device cpu [cuda]]
                                      [--cases vfn rsc loop] [--bf16]

All cases use the same seeded weights (random BN statistics and non-zero zero convs, so the
compensation is not the identity) and inputs. Printed per case: milliseconds per image pair
(mean and best of ``--repeat`` timed runs after ``--warmup`` untimed runs, divided by the batch
size; the cases are timed in one process with their runs interleaved, so that a change of the
machine's load hits all of them alike) and the peak memory of one forward pass, each case in
its own fresh process:

* CPU: the increase of the process's peak resident set size (``resource.getrusage``
  ``ru_maxrss``) over its resident size just before the first forward (``/proc/self/status``
  ``VmRSS``); tracemalloc does not see torch's allocations.
* CUDA: ``torch.cuda.max_memory_allocated`` minus the memory allocated before the forward.

The loop reference (``loop_fuse_y`` below, kept in this file) is the research code's
structure on the same weights: T flattened and convolved at full length for every block,
embeddings batch-wide with unfused BN, then Python loops over samples and filters for the basis
selection and the dynamic convolutions, BN over the stacked filter outputs; deterministic
argmax set choice as in this project's eval mode. The batched and loop outputs are compared
(max abs difference, must be <= 1e-4).

``--bf16`` runs every case under ``torch.autocast(<device>, torch.bfloat16)`` (the loop
reference too); the comparison limit is then 2e-2 (bf16 keeps 8 bits of mantissa).

The default task feature (512, 15, 20) is the size of SegFormer's ``backbone.norm4`` for a
640x480 image (L = 153,600).
"""
import argparse
import json
import os.path as osp
import resource
import subprocess
import sys
import tempfile
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

CASES = ('vfn', 'rsc', 'loop')
LABELS = {'vfn': 'VFN alone', 'rsc': 'VFN+RSC batched', 'loop': 'VFN+RSC loop reference'}


# ---------------------------------------------------------------------------------------------
# loop reference (research code structure)
def loop_block(block, bank, task_feat, feat):
    """One A2SI block with per-sample, per-filter loops. (B, C, H, W) -> (B, C, H, W)."""
    batch, c, h, w = feat.shape
    k_num, s_num, v_num = block.filter_num, block.set_num, block.vector_num
    flat = task_feat.flatten(1).expand(batch, -1)
    sel = block.selector
    set_code = sel.task_code.conv2(F.leaky_relu(sel.task_code.conv1(flat[:, None]), 0.2)).mean(2)
    img_code = sel.img_code(feat).mean((2, 3))
    joint = sel.joint(torch.cat([set_code, img_code], 1)).view(batch, sel.proto_dim, k_num)
    protos = F.normalize(sel.prototypes, dim=-1, eps=1e-8)[None].expand(batch, -1, -1)
    logits = torch.bmm(protos, F.normalize(joint, dim=1, eps=1e-8)).permute(0, 2, 1)
    index = logits.argmax(-1)
    weights = F.one_hot(index, s_num).to(feat.dtype)
    set_bank = torch.bmm(weights, bank.reshape(1, s_num, -1).expand(batch, -1, -1))
    set_bank = set_bank.view(batch, k_num, v_num, -1)

    bf = block.basis_filter
    normed = flat / (flat.pow(2).mean(1, keepdim=True).sqrt() + 1e-8)
    task_emb = bf.task_embed.conv2(F.leaky_relu(bf.task_embed.conv1(normed[:, None]), 0.2)).mean(2)
    query = bf.query(torch.cat([task_emb, bf.img_embed(feat).mean((2, 3))], 1))

    responses = []
    for b in range(batch):
        types = index[b].tolist()
        vectors = [None] * k_num
        for t in sorted(set(types)):
            members = [k for k in range(k_num) if types[k] == t]
            vecs = set_bank[b, members[0]]
            sims = F.normalize(query[b:b + 1], dim=-1) @ F.normalize(vecs, dim=-1).t()
            top = sims[0].topk(len(members)).indices
            for r, k in enumerate(members):
                vectors[k] = vecs[top[r]]
        for k in range(k_num):
            t = types[k]
            if t == 0:
                kernel = block.kernel_1x1(vectors[k]).view(c, c, 1, 1)
                responses.append(F.conv2d(feat[b:b + 1], kernel))
            else:
                d = 1 + (t - 1) % 3
                kernel = block.kernel_3x3(vectors[k]).view(c, c, 3, 3)
                responses.append(F.conv2d(feat[b:b + 1], kernel, padding=d, dilation=d))
    out = F.leaky_relu(block.out_norm(torch.cat(responses)), 0.2)
    return feat + block.zero_conv(out.view(batch, k_num, c, h, w).mean(1))


def loop_fuse_y(model, inputs, task_feat):
    """CLDyNFuser.fuse_y with :func:`loop_block` in place of the batched blocks."""
    vfn, bank = model.fusion_net, model.bank()
    h_ir, h_vis = inputs['ir'], inputs['vis_ycbcr'][:, :1]
    for i in range(vfn.num_blocks):
        f_ir, f_vis = vfn.encode_block(h_ir, h_vis, i)
        if i < vfn.num_blocks - 1:
            h_ir = loop_block(model.rsc_ir.blocks[i], bank, task_feat, f_ir)
            h_vis = loop_block(model.rsc_vis.blocks[i], bank, task_feat, f_vis)
    return vfn.fuse_features(f_ir, f_vis)


# ---------------------------------------------------------------------------------------------
def build_model(seed: int = 0):
    """CLDyNFuser of configs/cldyn/cldyn_vfn-rsc_pairs.py with seeded non-trivial weights."""
    from mmengine.config import Config

    from cldyn_mm.registry import MODELS
    from cldyn_mm.utils import register_all_modules
    register_all_modules(init_default_scope=True)
    torch.manual_seed(seed)
    cfg = Config.fromfile(
        osp.join(
            osp.dirname(osp.dirname(osp.abspath(__file__))), 'configs', 'cldyn',
            'cldyn_vfn-rsc_pairs.py'))
    model = MODELS.build(cfg.model)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(0.1 * torch.randn(m.running_mean.shape, generator=g))
                m.running_var.copy_(0.5 + torch.rand(m.running_var.shape, generator=g))
        for chain in (model.rsc_ir, model.rsc_vis):
            for block in chain.blocks:
                block.zero_conv.weight.copy_(0.1 *
                                             torch.randn(block.zero_conv.weight.shape, generator=g))
    return model.eval()


def make_inputs(batch, height, width, task_shape, device, seed=1):
    from cldyn_mm.utils.colour import rgb_to_ycbcr
    g = torch.Generator().manual_seed(seed)
    vis = torch.rand(batch, 3, height, width, generator=g)
    inputs = dict(
        ir=torch.rand(batch, 1, height, width, generator=g), vis=vis, vis_ycbcr=rgb_to_ycbcr(vis))
    task = torch.randn(batch, *task_shape, generator=g)
    return {k: v.to(device) for k, v in inputs.items()}, task.to(device)


def _vm_rss_kib() -> int:
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    raise RuntimeError('VmRSS not found in /proc/self/status')


def _setup(args):
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    model = build_model().to(device)
    inputs, task = make_inputs(args.batch, args.height, args.width, args.task_shape, device)
    runs = {
        'vfn': lambda: model.fuse_y(inputs),
        'rsc': lambda: model.fuse_y(inputs, task_feat=task),
        'loop': lambda: loop_fuse_y(model, inputs, task),
    }
    if args.bf16:

        def autocast(run):

            def wrapped():
                with torch.autocast(device.type, dtype=torch.bfloat16):
                    return run().float()

            return wrapped

        runs = {case: autocast(run) for case, run in runs.items()}
    return device, runs


def memory_worker(args) -> None:
    """One forward of one case in a fresh process: peak memory, and the output saved."""
    device, runs = _setup(args)
    cuda = device.type == 'cuda'
    with torch.no_grad():
        if cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
        else:
            base = _vm_rss_kib() * 1024
        out = runs[args.case]()
        if cuda:
            torch.cuda.synchronize()
            peak = torch.cuda.max_memory_allocated() - base
        else:
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base
    torch.save(out.cpu(), args.save_output)
    print(json.dumps(dict(case=args.case, peak_mib=peak / 2**20)))


def timing_worker(args) -> None:
    """All cases in one process, their timed runs interleaved (case A, B, C, A, B, C, ...), so
    that a change of the machine's load during the benchmark hits every case alike."""
    device, runs = _setup(args)
    cuda = device.type == 'cuda'
    times = {case: [] for case in args.cases}
    with torch.no_grad():
        for case in args.cases:
            for _ in range(args.warmup):
                runs[case]()
        for _ in range(args.repeat):
            for case in args.cases:
                if cuda:
                    torch.cuda.synchronize()
                t0 = time.perf_counter()
                runs[case]()
                if cuda:
                    torch.cuda.synchronize()
                times[case].append(time.perf_counter() - t0)
    print(json.dumps(dict(times=times, threads=torch.get_num_threads())))


def _worker_cmd(args, batch, device):
    cmd = [
        sys.executable,
        osp.abspath(__file__), '--batch',
        str(batch), '--height',
        str(args.height), '--width',
        str(args.width), '--repeat',
        str(args.repeat), '--warmup',
        str(args.warmup), '--device', device, '--task-shape', *map(str, args.task_shape), '--cases',
        *args.cases
    ]
    if args.threads:
        cmd += ['--threads', str(args.threads)]
    if args.bf16:
        cmd += ['--bf16']
    return cmd


def _run(cmd, what):
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f'{what} failed:\n{proc.stderr}')
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--height', type=int, default=480)
    p.add_argument('--width', type=int, default=640)
    p.add_argument('--batch-sizes', type=int, nargs='+', default=[1, 8])
    p.add_argument(
        '--task-shape',
        type=int,
        nargs='+',
        default=[512, 15, 20],
        help='task feature shape without the batch dimension')
    p.add_argument('--repeat', type=int, default=3, help='timed runs per case')
    p.add_argument('--warmup', type=int, default=1, help='untimed runs per case before them')
    p.add_argument(
        '--device', nargs='+', default=None, help="devices (default: cpu, and cuda when available)")
    p.add_argument('--cases', nargs='+', default=list(CASES), choices=CASES)
    p.add_argument(
        '--threads', type=int, default=0, help='CPU threads (default: torch default, one per core)')
    p.add_argument('--bf16', action='store_true', help='bf16 autocast for every case')
    p.add_argument('--worker', choices=('memory', 'timing'), help=argparse.SUPPRESS)
    p.add_argument('--case', choices=CASES, help=argparse.SUPPRESS)
    p.add_argument('--batch', type=int, help=argparse.SUPPRESS)
    p.add_argument('--save-output', help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        args.device = args.device[0] if args.device else 'cpu'
        return (memory_worker if args.worker == 'memory' else timing_worker)(args)

    devices = args.device or (['cpu', 'cuda'] if torch.cuda.is_available() else ['cpu'])
    print(f'image {args.width}x{args.height}, task feature {tuple(args.task_shape)}, '
          f'{args.repeat} timed run(s) per case after {args.warmup} warm-up(s), interleaved; '
          f'torch {torch.__version__}, {args.threads or torch.get_num_threads()} CPU thread(s), '
          f"{'bf16 autocast' if args.bf16 else 'fp32'}")
    print('peak memory (one forward in a fresh process): CPU = ru_maxrss increase over VmRSS '
          'before the forward; CUDA = max_memory_allocated increase')
    print(f"{'device':<6} {'batch':>5}  {'case':<24} {'ms/pair':>10} {'best':>10} "
          f"{'pairs/s':>9} {'peak MiB':>9}")
    with tempfile.TemporaryDirectory() as tmp:
        for device in devices:
            for batch in args.batch_sizes:
                base_cmd = _worker_cmd(args, batch, device)
                peaks, outputs = {}, {}
                for case in args.cases:
                    path = osp.join(tmp, f'{device}_{batch}_{case}.pt')
                    peaks[case] = _run(
                        base_cmd + ['--worker', 'memory', '--case', case, '--save-output', path],
                        f'memory run of {case}, batch {batch}, {device}')
                    outputs[case] = torch.load(path)
                times = _run(base_cmd + ['--worker', 'timing'],
                             f'timing run, batch {batch}, {device}')['times']
                ms = {c: 1000 * sum(t) / len(t) / batch for c, t in times.items()}
                best = {c: 1000 * min(t) / batch for c, t in times.items()}
                for case in args.cases:
                    print(
                        f"{device:<6} {batch:>5}  {LABELS[case]:<24} {ms[case]:>10.1f} "
                        f"{best[case]:>10.1f} {1000 / ms[case]:>9.1f} "
                        f"{peaks[case]['peak_mib']:>9.0f}",
                        flush=True)
                if 'rsc' in outputs and 'loop' in outputs:
                    diff = (outputs['rsc'] - outputs['loop']).abs().max().item()
                    limit = 2e-2 if args.bf16 else 1e-4
                    print(
                        f"{device:<6} {batch:>5}  batched vs loop: "
                        f"{ms['loop'] / ms['rsc']:.2f}x faster (best runs: "
                        f"{best['loop'] / best['rsc']:.2f}x), max |diff| {diff:.2e} "
                        f"({'ok' if diff <= limit else 'MISMATCH'})",
                        flush=True)
                if 'rsc' in outputs and 'vfn' in outputs:
                    change = (outputs['rsc'] - outputs['vfn']).abs().max().item()
                    print(
                        f"{device:<6} {batch:>5}  compensation changes the output by up to "
                        f"{change:.3f}",
                        flush=True)


if __name__ == '__main__':
    main()
