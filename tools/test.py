"""Evaluate a cldyn_mm model with its config's test dataloader and evaluator.

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--show-dir DIR]
                                           [--cfg-options key=value ...]

Several processes: tools/dist_test.sh CONFIG CHECKPOINT NUM_PROCS [args...] (torchrun; NCCL on
GPUs, gloo on CPUs, see cldyn_mm/utils/distributed.py).
"""
import argparse
import os
import os.path as osp

from mmengine.config import DictAction
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from cldyn_mm.utils import register_all_modules
from cldyn_mm.utils.checkpoint import trust_checkpoints_globally
from cldyn_mm.utils.distributed import setup_cpu_distributed, teardown_distributed
from cldyn_mm.utils.run_config import load_run_config


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test (evaluate) a cldyn_mm model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the dir to save the evaluation logs')
    parser.add_argument(
        '--show-dir',
        help='turn the config\'s visualization hook on and also write its panels '
        'as PNG files into this folder (relative paths go below work_dir/<timestamp>); the '
        'config\'s visualizer draws them (fusers: IR | VIS | fused; fused task models: the '
        'predictions on each of IR | VIS | VFN | CLDyN)')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction, help='override settings of the config')
    parser.add_argument(
        '--trust-checkpoint',
        action='store_true',
        help='load the checkpoint with full unpickling; only for trusted files')
    parser.add_argument('--tensorboard', choices=['auto', 'on', 'off'], default='auto')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def main(argv=None):
    args = parse_args(argv)
    register_all_modules(init_default_scope=False)
    if args.trust_checkpoint:
        trust_checkpoints_globally()
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'checkpoint not found: {args.checkpoint}')
    cfg = load_run_config(args.config, args.work_dir, args.cfg_options, args.launcher,
                          args.tensorboard)
    cfg.load_from = args.checkpoint
    if args.show_dir:
        # as mmdet's tools/test.py: the config's visualization hook draws (the hook switches
        # the model's panel images on), the config's visualizer decides how
        hooks = cfg.setdefault('default_hooks', {})
        if 'visualization' not in hooks:
            raise KeyError('--show-dir needs a default_hooks.visualization hook in the config')
        hooks['visualization']['out_dir'] = args.show_dir
        hooks['visualization']['draw'] = True
    # distributed without CUDA (tools/dist_test.sh on CPUs): gloo, as in tools/train.py
    for note in setup_cpu_distributed(cfg, args.launcher):
        if os.environ.get('RANK', '0') == '0':
            print(f'CPU distributed: {note}', flush=True)
    runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
    metrics = runner.test()
    if args.launcher != 'none':
        teardown_distributed()
    return metrics


if __name__ == '__main__':
    main()
