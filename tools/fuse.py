"""Fuse a folder of infrared/visible pairs with a named or configured model.

    python tools/fuse.py [MODEL [CHECKPOINT]] --ir DIR --vi DIR --out DIR
                         [--batch-size 1] [--device cpu] [--task-feat T.pt] [--overwrite]
                         [--pred-out FILE|DIR] [--show-dir DIR]

MODEL is a name from model-index.yml (weights resolved; default: vfn_ivif) or a config file,
which then needs its CHECKPOINT. Writes colour fused images named like the inputs (<stem>.png)
at their original sizes; a rerun skips pairs whose output exists, so an interrupted folder is
resumed. For a fused task model (FusedDetector / FusedSegmentor config) the images are the
task-customized fusion and --pred-out writes the task network's predictions. Mistakes end with
one line on stderr and exit code 1 (--debug: the traceback). docs/inference.md.
"""
import argparse
import os.path as osp
import sys
import time

from mmengine.config import DictAction

from cldyn_mm.utils.cli import run_cli

DEFAULT_MODEL = 'vfn_ivif'


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='Fuse infrared/visible pairs of two folders')
    p.add_argument(
        'model',
        nargs='?',
        default=None,
        help=f'model name from model-index.yml (default: {DEFAULT_MODEL}) or a '
        'config file (e.g. configs/vfn/vfn_1xb8-200_demo.py)')
    p.add_argument(
        'checkpoint',
        nargs='?',
        default=None,
        help='checkpoint of that model (needed for a config file; for a name it '
        "replaces the index's weights)")
    p.add_argument('--ir', required=True, help='folder of infrared images')
    p.add_argument('--vi', required=True, help='folder of visible images')
    p.add_argument('--out', required=True, help='output folder for the fused images')
    p.add_argument(
        '--batch-size',
        type=int,
        default=1,
        help='pairs per forward pass (only equal-size pairs are batched). On a CPU '
        '1 is fastest (640x480 MSRS, 2 cores: 0.8 s/pair at 1, 1.3 s/pair at 4: '
        'the full-resolution maps outgrow the caches); use 4-16 on a GPU')
    p.add_argument('--num-workers', type=int, default=0, help='image loading workers')
    p.add_argument('--device', default='cpu', help="'cpu', 'cuda', 'cuda:1', ...")
    p.add_argument('--ext', default='.png', help='output file extension (.png, .jpg, ...)')
    p.add_argument(
        '--task-feat',
        help='task feature tensor (torch.save, (C,H,W) or (1,C,H,W)) '
        'for compensated fusion with a CLDyN fusion config, used for every pair '
        '(a fused task model computes its own feature per image)')
    p.add_argument(
        '--pred-out',
        help='fused task models: where the predictions go: detection '
        '-> a COCO results JSON file; segmentation / SOD -> a folder of '
        '<stem>.png masks / saliency maps. All pairs are processed again')
    p.add_argument(
        '--show-dir',
        help='write IR | VIS | VFN | CLDyN panels (predictions drawn) '
        'into this folder')
    p.add_argument(
        '--score-thr', type=float, default=0.3, help='detection score threshold for --show-dir')
    p.add_argument('--overwrite', action='store_true', help='redo pairs already fused')
    p.add_argument('--no-progress', action='store_true', help='no progress bar')
    p.add_argument(
        '--trust-checkpoint',
        action='store_true',
        help='load the checkpoint with full unpickling; only for trusted files')
    p.add_argument('--cfg-options', nargs='+', action=DictAction, help='override config keys')
    p.add_argument('--debug', action='store_true', help='show the traceback of an error')
    return p.parse_args(argv)


def build_inferencer(args):
    """The ``FusionInferencer`` of the command line's model arguments."""
    from cldyn_mm.apis import FusionInferencer, UnknownModelError
    model = args.model or DEFAULT_MODEL
    if osp.isfile(model) and not args.checkpoint:
        raise ValueError(f'config {model} needs a checkpoint: tools/fuse.py {model} CHECKPOINT '
                         '...')
    try:
        return FusionInferencer(
            model,
            args.checkpoint,
            device=args.device,
            cfg_options=args.cfg_options,
            trust_checkpoint=args.trust_checkpoint,
            show_progress=not args.no_progress)
    except UnknownModelError as e:
        if args.model is None:
            raise UnknownModelError(
                f'the default model {DEFAULT_MODEL!r} is not in the model index yet; give a '
                'config and a checkpoint: tools/fuse.py CONFIG CHECKPOINT --ir ... --vi ... '
                f'--out ... ({e})') from e
        raise


def main(argv=None):
    """Run the command; returns ``dict(written, skipped, total)``. Errors raise (the command
    line entry point turns them into one line)."""
    args = parse_args(argv)
    from cldyn_mm.apis import load_task_feature
    from cldyn_mm.utils.checkpoint import trust_checkpoints_globally
    if args.trust_checkpoint:
        trust_checkpoints_globally()
    inferencer = build_inferencer(args)
    task_feat = load_task_feature(args.task_feat) if args.task_feat else None
    t0 = time.time()
    kwargs = dict(
        batch_size=args.batch_size,
        num_workers=args.num_workers,
        out_dir=args.out,
        ext=args.ext,
        overwrite=args.overwrite,
        return_results=False)
    if task_feat is not None:
        kwargs['task_feat'] = task_feat
    if args.pred_out:
        kwargs['pred_out'] = args.pred_out
    if args.show_dir:
        kwargs.update(draw=True, panel_dir=args.show_dir, score_thr=args.score_thr)
    res = inferencer(ir=args.ir, vi=args.vi, **kwargs)
    result = dict(written=res['written'], skipped=res['skipped'], total=res['total'])
    dt = time.time() - t0
    per = dt / result['written'] * 1000 if result['written'] else 0.
    print(f"fused {result['written']} pair(s) into {args.out} in {dt:.1f} s "
          f"({per:.0f} ms/pair); {result['skipped']} already present, {result['total']} total")
    if args.pred_out:
        print(f'predictions ({inferencer.task}) written to {args.pred_out}')
    return result


def cli(argv=None) -> int:
    """``main`` with errors as one line on stderr (exit code 1); ``--debug`` re-raises."""
    return run_cli(main, argv, prog='fuse.py', interrupted='rerun to resume')


if __name__ == '__main__':
    sys.exit(cli())
