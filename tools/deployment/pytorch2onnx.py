"""Export a fusion model (VFN or CLDyN fuser config + checkpoint) to ONNX.

    python tools/deployment/pytorch2onnx.py CONFIG CHECKPOINT --out F.onnx
        [--opset 17] [--shape H W] [--task-shape C H W]
        [--verify [--ir IMG --vi IMG] [--task-feat T.pt] [--atol 1e-4]]
        [--cfg-options k=v ...] [--trust-checkpoint] [--debug]

CONFIG: a VFNFuser config (configs/vfn/*.py) or a CLDyNFuser config
(configs/cldyn/cldyn_vfn-rsc_pairs.py). The graph takes ``ir`` (N, 1, H, W) and ``vis`` (N, 3, H, W)
RGB in [0, 1] (+ ``task_feat`` (N_t, C_t, H_t, W_t) for CLDyN) and returns ``fused_y``
(N, 1, H, W) and ``fused`` (N, 3, H, W) RGB in [0, 1]; N, H, W and the task feature's axes are
dynamic, --shape / --task-shape only size the tracing inputs. --verify runs the file with
onnxruntime (CPU) against PyTorch at the export size, at another size and, with --ir/--vi, on
that image pair; it fails when the largest difference exceeds --atol. Mistakes end with one
line on stderr and exit code 1 (2 for bad arguments); --debug shows the traceback.
docs/deployment.md.
"""
import argparse
import os.path as osp
import sys
import time

from mmengine.config import DictAction

from cldyn_mm.deployment import (DEFAULT_OPSET, DEFAULT_SHAPE, DEFAULT_TASK_SHAPE, MIN_OPSET,
                                 ExportError, check_opset, check_shape)
from cldyn_mm.utils.cli import run_cli

PROG = 'pytorch2onnx.py'
SUPPORTED = ('VFNFuser', 'CLDyNFuser')


class OneLineParser(argparse.ArgumentParser):
    """argparse with its errors on one line (exit code 2)."""

    def error(self, message):
        self.exit(2, f'{PROG}: error: {message} (see --help)\n')


def parse_args(argv=None):
    p = OneLineParser(prog=PROG, description='Export a VFN / CLDyN fuser to ONNX')
    p.add_argument('config', help='VFNFuser or CLDyNFuser config file')
    p.add_argument('checkpoint', help='checkpoint of that model (MMEngine or a state dict)')
    p.add_argument('--out', required=True, help='the ONNX file to write')
    p.add_argument(
        '--opset',
        type=int,
        default=DEFAULT_OPSET,
        help=f'ONNX opset, >= {MIN_OPSET} (default {DEFAULT_OPSET})')
    p.add_argument(
        '--shape',
        nargs=2,
        metavar=('H', 'W'),
        default=list(DEFAULT_SHAPE),
        help='size of the tracing input, >= 8 (height and width stay dynamic; '
        f'default {DEFAULT_SHAPE[0]} {DEFAULT_SHAPE[1]})')
    p.add_argument(
        '--task-shape',
        nargs=3,
        metavar=('C', 'H', 'W'),
        default=list(DEFAULT_TASK_SHAPE),
        help='CLDyN: size of the tracing task feature (its axes stay dynamic; '
        'default %s)' % ' '.join(map(str, DEFAULT_TASK_SHAPE)))
    p.add_argument(
        '--verify',
        action='store_true',
        help='compare onnxruntime with PyTorch (needs onnxruntime)')
    p.add_argument('--ir', help='--verify: an infrared image of a real pair')
    p.add_argument('--vi', help='--verify: the visible image of that pair')
    p.add_argument(
        '--task-feat',
        help='--verify, CLDyN: a task feature file (torch.save, '
        '(C, H, W) or (1, C, H, W)) instead of a random one')
    p.add_argument(
        '--atol',
        type=float,
        default=1e-4,
        help='--verify: largest allowed absolute difference (default 1e-4)')
    p.add_argument(
        '--trust-checkpoint',
        action='store_true',
        help='load the checkpoint with full unpickling; only for trusted files')
    p.add_argument('--cfg-options', nargs='+', action=DictAction, help='override config keys')
    p.add_argument('--debug', action='store_true', help='show the traceback of an error')
    args = p.parse_args(argv)
    if bool(args.ir) != bool(args.vi):
        p.error('--ir and --vi go together')
    if (args.ir or args.task_feat) and not args.verify:
        p.error('--ir/--vi/--task-feat are used by --verify only')
    return args


def load_fuser(config: str, checkpoint: str, cfg_options=None):
    """The fuser of ``config`` with ``checkpoint`` loaded strictly; refuses other models
    before building them."""
    from mmengine.config import Config

    from cldyn_mm.apis import init_fuser
    from cldyn_mm.registry import MODELS
    from cldyn_mm.utils import register_all_modules
    register_all_modules(init_default_scope=True)
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    model_type = cfg.get('model', {}).get('type') if isinstance(cfg.get('model'), dict) else None
    cls = MODELS.get(model_type) if isinstance(model_type, str) else None
    bases = {c.__name__ for c in getattr(cls, '__mro__', ())}
    if not bases & set(SUPPORTED):
        raise ExportError(f'{config}: model type {model_type!r} cannot be exported; ONNX export '
                          f'supports {" and ".join(SUPPORTED)} configs (configs/vfn/*.py, '
                          'configs/cldyn/cldyn_vfn-rsc_pairs.py)')
    return init_fuser(cfg, checkpoint)


def read_pair(ir_path: str, vi_path: str):
    """``(ir (1, 1, H, W), vis (1, 3, H, W) RGB)`` float32 in [0, 1] from two image files
    (read through ``mmengine.fileio``, decoded by ``mmcv.imfrombytes``)."""
    import torch
    from mmcv.image import imfrombytes
    from mmengine import fileio
    imgs = []
    for path, flag in ((ir_path, 'grayscale'), (vi_path, 'color')):
        if not osp.isfile(path):
            raise FileNotFoundError(f'image not found: {path}')
        img = imfrombytes(fileio.get(path), flag=flag, backend='cv2')
        if img is None:
            raise OSError(f'cannot decode image file: {path}')
        imgs.append(img)
    ir, vi = imgs
    if ir.shape[:2] != vi.shape[:2]:
        raise ValueError(f'the pair has different sizes: {ir.shape[:2]} and {vi.shape[:2]}')
    ir_t = torch.from_numpy(ir).float().div(255)[None, None]
    vi_t = torch.from_numpy(vi[:, :, ::-1].copy()).float().div(255).permute(2, 0, 1)[None]
    return ir_t, vi_t


def verify(path, fuser, kind, args) -> float:
    """Run ``path`` with onnxruntime against PyTorch; prints one line per case and returns the
    largest difference."""
    from cldyn_mm.apis import load_task_feature
    from cldyn_mm.deployment.onnx_export import (dummy_inputs, max_abs_diff, onnx_session, run_onnx,
                                                 torch_reference)
    try:
        session = onnx_session(path)
    except ImportError as e:
        raise ImportError(f'--verify needs onnxruntime (pip install onnxruntime): {e}') from e
    h, w = args.shape
    task_shape = args.task_shape
    cases = [(f'random {h}x{w}', dummy_inputs(kind, (h, w), task_shape, seed=1)),
             (f'random {h + 13}x{w + 7}, batch 2',
              dummy_inputs(kind, (h + 13, w + 7), task_shape, batch=2, seed=2))]
    if args.ir:
        pair = read_pair(args.ir, args.vi)
        size = 'x'.join(map(str, pair[0].shape[-2:]))
        cases.append((f'pair {osp.basename(args.ir)} {size}',
                      pair + dummy_inputs(kind, (8, 8), task_shape, seed=3)[2:]))
    if kind == 'cldyn' and args.task_feat:
        feat = load_task_feature(args.task_feat)
        cases = [(name + ', task feature file', x[:2] + (feat, )) for name, x in cases]
    worst = 0.
    for name, inputs in cases:
        t0 = time.time()
        diff = max_abs_diff(torch_reference(fuser, inputs), run_onnx(session, inputs))
        worst = max(worst, diff)
        print(f'verify {name}: max abs diff {diff:.2e} ({time.time() - t0:.1f} s)')
    return worst


def check_args(args) -> None:
    """Everything about the arguments that can be checked without torch, so that a mistake
    is reported at once (ExportError / FileNotFoundError)."""
    args.shape = check_shape(args.shape, '--shape')
    args.task_shape = check_shape(args.task_shape, '--task-shape', 3, 1)
    try:
        check_opset(args.opset)
    except ExportError as e:
        raise ExportError(f'--{e}') from None
    if not args.atol > 0:
        raise ExportError(f'--atol must be > 0, got {args.atol}')
    for what, path in (('config', args.config), ('checkpoint', args.checkpoint),
                       ('--ir image', args.ir), ('--vi image', args.vi), ('--task-feat file',
                                                                          args.task_feat)):
        if path is not None and not osp.isfile(path):
            raise FileNotFoundError(f'{what} not found: {path}')
    out_dir = osp.dirname(osp.abspath(args.out))
    if not osp.isdir(out_dir):
        raise FileNotFoundError(f'output folder of --out does not exist: {out_dir}')
    if not args.out.endswith('.onnx'):
        raise ExportError(f'--out must name a .onnx file, got {args.out}')


def main(argv=None) -> dict:
    """Run the command; returns ``dict(out, kind[, max_abs_diff])``. Errors raise (the
    command line entry point turns them into one line)."""
    args = parse_args(argv)
    check_args(args)
    from cldyn_mm.deployment.onnx_export import export_onnx
    from cldyn_mm.utils.checkpoint import trust_checkpoints_globally
    if args.trust_checkpoint:
        trust_checkpoints_globally()
    fuser = load_fuser(args.config, args.checkpoint, args.cfg_options)
    t0 = time.time()
    model = export_onnx(fuser, args.out, args.shape, args.opset, args.task_shape)
    size = osp.getsize(args.out) / 2**20
    print(f'exported {type(fuser).__name__} to {args.out} ({size:.1f} MiB, opset {args.opset}, '
          f'{time.time() - t0:.1f} s); inputs {", ".join(model.input_names)}, outputs '
          'fused_y, fused; dynamic batch, height, width' +
          (', task feature axes' if model.kind == 'cldyn' else ''))
    result = dict(out=args.out, kind=model.kind)
    if args.verify:
        from cldyn_mm.deployment.onnx_export import check_onnx_model
        check_onnx_model(args.out)
        worst = verify(args.out, fuser, model.kind, args)
        result['max_abs_diff'] = worst
        if not worst <= args.atol:
            raise ExportError(f'verification failed: onnxruntime differs from PyTorch by '
                              f'{worst:.2e} > --atol {args.atol:g}')
        print(f'verified: onnxruntime matches PyTorch within {args.atol:g} (max {worst:.2e})')
    return result


def cli(argv=None) -> int:
    """``main`` with errors as one line on stderr (exit code 1); ``--debug`` re-raises."""
    return run_cli(main, argv, prog=PROG)


if __name__ == '__main__':
    sys.exit(cli())
