"""Fuse a folder of infrared/visible pairs with a trained model.

    python tools/fuse.py CONFIG CHECKPOINT --ir DIR --vi DIR --out DIR
                         [--batch-size 1] [--device cpu] [--task-feat T.pt] [--overwrite]

Writes colour fused images named like the inputs (<stem>.png) at their original sizes. A rerun
skips pairs whose output exists, so an interrupted folder is resumed.
"""
import argparse
import os.path as osp
import sys
import time

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # run from a checkout

from mmengine.config import DictAction  # noqa: E402

from cldyn_mm.apis import fuse_folder, init_fuser, load_task_feature  # noqa: E402
from cldyn_mm.utils.checkpoint import trust_checkpoints_globally  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='Fuse infrared/visible pairs of two folders')
    p.add_argument('config', help='model config (e.g. configs/vfn/vfn_demo.py)')
    p.add_argument('checkpoint', help='checkpoint of that model')
    p.add_argument('--ir', required=True, help='folder of infrared images')
    p.add_argument('--vi', required=True, help='folder of visible images')
    p.add_argument('--out', required=True, help='output folder for the fused images')
    p.add_argument('--batch-size', type=int, default=1,
                   help='pairs per forward pass (only equal-size pairs are batched). On a CPU '
                   '1 is fastest (640x480 MSRS, 2 cores: 0.8 s/pair at 1, 1.3 s/pair at 4: '
                   'the full-resolution maps outgrow the caches); use 4-16 on a GPU')
    p.add_argument('--num-workers', type=int, default=0, help='image loading workers')
    p.add_argument('--device', default='cpu', help="'cpu', 'cuda', 'cuda:1', ...")
    p.add_argument('--ext', default='.png', help='output file extension (.png, .jpg, ...)')
    p.add_argument('--task-feat', help='task feature tensor (torch.save, (C,H,W) or (1,C,H,W)) '
                   'for compensated fusion with a CLDyN config, used for every pair')
    p.add_argument('--overwrite', action='store_true', help='redo pairs already fused')
    p.add_argument('--no-progress', action='store_true', help='no progress bar')
    p.add_argument('--trust-checkpoint', action='store_true',
                   help='load the checkpoint with full unpickling; only for trusted files')
    p.add_argument('--cfg-options', nargs='+', action=DictAction, help='override config keys')
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.trust_checkpoint:
        trust_checkpoints_globally()
    model = init_fuser(args.config, args.checkpoint, args.device, args.cfg_options)
    task_feat = load_task_feature(args.task_feat) if args.task_feat else None
    t0 = time.time()
    result = fuse_folder(model, args.ir, args.vi, args.out, args.batch_size, args.num_workers,
                         task_feat=task_feat, ext=args.ext, overwrite=args.overwrite,
                         progress=not args.no_progress)
    dt = time.time() - t0
    per = dt / result['written'] * 1000 if result['written'] else 0.
    print(f"fused {result['written']} pair(s) into {args.out} in {dt:.1f} s "
          f"({per:.0f} ms/pair); {result['skipped']} already present, {result['total']} total")
    return result


if __name__ == '__main__':
    main()
