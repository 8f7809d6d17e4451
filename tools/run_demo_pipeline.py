"""The whole CLDyN chain on the generated demo data, in one command.

    python tools/run_demo_pipeline.py [--task seg|det|sod] [--work-dir work_dirs/demo_pipeline]

Stages (each writes under the work dir, resumes an interrupted run and is skipped when done):

1. ``data``: the demo data (tools/dataset_converters/make_demo_data.py; reused when complete).
2. ``vfn``: VFN trained without labels (configs/vfn/vfn_1xb8-200_demo.py).
3. ``task``: the task network trained on VFN-fused images (configs/fused_task/
   <network>_fused_1xb4-2k_demo.py), exported as a frozen task network (``task_net.pth``).
4. ``closed_loop``: RSC + bank trained through the frozen VFN and task network with the
   reward-penalty loss (configs/cldyn/cldyn_<network>_1xb4-200_demo.py); ``best.pth`` by the
   spec's rule.
5. ``eval``: the frozen task network on the validation images given as VIS only, IR only, VFN
   fusion and CLDyN fusion (configs/fused_task/<network>_fused-eval_demo.py, modes vis / ir /
   vfn / cldyn), plus fusion metrics of the VFN and CLDyN images; the table is printed and written
   to ``results.md`` / ``results.json``.

The configs are the repository's, with the data pipelines' image sizes multiplied by
``--scale`` (0.5: 160x128 network inputs) and the iteration counts below, so that the chain
fits about 15 minutes on 2 CPU cores; the configs actually run are written to
``<work-dir>/configs/``. The VIS and IR rows use the same frozen task network (trained on
VFN-fused images), i.e. they show what that network makes of one modality alone.
"""
import argparse
import json
import numbers
import os
import os.path as osp
import subprocess
import sys
import time
from typing import Dict, Optional

from mmengine.config import Config, DictAction

from cldyn_mm.testing import limit_datasets, main_process_loaders, rescale_pipelines, set_data_root

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
TASKS = {
    # task: (metric keys for the table, key names shown, lower is better?)
    'seg': (['mIoU', 'aAcc', 'mAcc'], False),
    'det': (['coco/bbox_mAP', 'coco/bbox_mAP_50'], False),
    'sod': (['sod/maxF', 'sod/MAE', 'sod/S'], False),
}
# task: its network's name in the configs of the stages (configs/fused_task/<network>_fused_*,
# configs/cldyn/cldyn_<network>_*)
NETWORKS = {'det': 'rtmdet-tiny', 'seg': 'segformer-b0', 'sod': 'sod-r18-fpn'}
FUSION_METRICS = ['EN', 'SD', 'SF', 'MI', 'Qabf', 'SSIM']
MODES = ('vis', 'ir', 'vfn', 'cldyn')
STAGES = ('data', 'vfn', 'task', 'closed_loop', 'eval')


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__.split('\n')[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        '--task',
        choices=sorted(TASKS),
        default='seg',
        help='downstream task (default seg: SegFormer-b0, mIoU)')
    p.add_argument('--work-dir', default='work_dirs/demo_pipeline')
    p.add_argument(
        '--data-root', default='data/demo', help='demo data folder (generated there when missing)')
    p.add_argument(
        '--scale',
        type=float,
        default=0.5,
        help='factor on the pipelines\' image sizes (default 0.5: 160x128)')
    p.add_argument('--vfn-iters', type=int, default=150)
    p.add_argument('--task-iters', type=int, default=400)
    p.add_argument('--cl-iters', type=int, default=200)
    p.add_argument('--cl-batch', type=int, default=4, help='closed-loop batch size')
    p.add_argument(
        '--max-val',
        type=int,
        default=None,
        help='evaluate on the first N validation images only (tests)')
    p.add_argument(
        '--stage',
        choices=STAGES,
        action='append',
        help='run only these stages (repeatable); default all')
    p.add_argument(
        '--cl-options',
        nargs='+',
        action=DictAction,
        default={},
        help='extra closed-loop config keys, e.g. optim_wrapper.clip_bank=True '
        'model.freeze_prototypes=True (docs/closed_loop.md)')
    p.add_argument(
        '--threads',
        type=int,
        default=None,
        help='torch threads of each stage (default: the number of CPU cores)')
    return p.parse_args(argv)


# ---------------------------------------------------------------------------- configs
def stage_config(path: str, args, options: Dict) -> Config:
    cfg = Config.fromfile(osp.join(REPO, path))
    cfg.merge_from_dict(options)
    seen = set()  # test_dataloader = val_dataloader: one pipeline, scaled once
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        if cfg.get(key):
            rescale_pipelines(cfg[key], args.scale, seen)
            main_process_loaders(cfg[key])
            set_data_root(cfg[key], osp.abspath(args.data_root) + '/')
            if args.max_val and key != 'train_dataloader':
                limit_datasets(cfg[key], args.max_val)
    return cfg


# ---------------------------------------------------------------------------- running
class Pipeline:

    def __init__(self, args):
        self.args = args
        self.work_dir = osp.abspath(args.work_dir)
        self.cfg_dir = osp.join(self.work_dir, 'configs')
        os.makedirs(self.cfg_dir, exist_ok=True)
        self.times: Dict[str, float] = {}
        self.env = dict(os.environ)
        threads = args.threads or os.cpu_count() or 1
        self.env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
        self.task = args.task

    def path(self, *parts) -> str:
        return osp.join(self.work_dir, *parts)

    def train(self, name: str, cfg: Config) -> str:
        """Run tools/train.py on ``cfg`` in ``<work_dir>/<name>``; returns the final
        checkpoint (skips the run when it exists, resumes an interrupted one)."""
        work = self.path(name)
        final = osp.join(work, f'iter_{cfg.train_cfg.max_iters}.pth')
        if osp.isfile(final):
            print(f'[{name}] done before: {final}')
            return final
        cfg_file = osp.join(self.cfg_dir, f'{name}.py')
        cfg.dump(cfg_file)
        cmd = [
            sys.executable,
            osp.join(REPO, 'tools', 'train.py'), cfg_file, '--work-dir', work, '--tensorboard',
            'off'
        ]
        if osp.isfile(osp.join(work, 'last_checkpoint')):
            cmd.append('--resume')
        print(f'[{name}] ' + ' '.join(cmd), flush=True)
        log = osp.join(self.work_dir, f'{name}.log')
        with open(log, 'a') as f:
            proc = subprocess.run(cmd, cwd=REPO, env=self.env, stdout=f, stderr=subprocess.STDOUT)
        if proc.returncode != 0 or not osp.isfile(final):
            tail = open(log).read()[-3000:]
            raise RuntimeError(f'stage {name} failed (exit {proc.returncode}); log {log}:\n{tail}')
        return final

    def timed(self, name: str, fn, *a):
        t0 = time.perf_counter()
        out = fn(*a)
        self.times[name] = time.perf_counter() - t0
        print(f'[{name}] {self.times[name]:.0f} s', flush=True)
        return out

    # stages -------------------------------------------------------------------------
    def data(self) -> None:
        from cldyn_mm.testing.demo_data import generate_demo_dataset
        meta = generate_demo_dataset(self.args.data_root)
        print(f'[data] {self.args.data_root}: {meta["num_train"]} train + {meta["num_val"]} val '
              f'pairs, {meta["size"][0]}x{meta["size"][1]}')

    def vfn(self) -> str:
        a = self.args
        cfg = stage_config(
            'configs/vfn/vfn_1xb8-200_demo.py', a, {
                'train_cfg.max_iters': a.vfn_iters,
                'train_cfg.val_interval': a.vfn_iters,
                'default_hooks.checkpoint.interval': a.vfn_iters
            })
        return self.train('vfn', cfg)

    def task_net(self, vfn_ckpt: str) -> str:
        from cldyn_mm.models.task_wrappers import export_task_checkpoint
        a = self.args
        cfg = stage_config(
            f'configs/fused_task/{NETWORKS[self.task]}_fused_1xb4-2k_demo.py', a, {
                'model.fuser_checkpoint':
                vfn_ckpt,
                'model.mode':
                'vfn',
                'train_cfg.max_iters':
                a.task_iters,
                'train_cfg.val_interval':
                a.task_iters,
                'default_hooks.checkpoint.interval':
                a.task_iters,
                'param_scheduler': [
                    dict(
                        type='LinearLR',
                        start_factor=0.01,
                        by_epoch=False,
                        begin=0,
                        end=max(1, a.task_iters // 10)),
                    dict(
                        type='CosineAnnealingLR',
                        by_epoch=False,
                        begin=max(1, a.task_iters // 10),
                        end=a.task_iters,
                        eta_min=1e-5)
                ]
            })
        final = self.train('task', cfg)
        exported = self.path('task', 'task_net.pth')
        if not osp.isfile(exported) or osp.getmtime(exported) < osp.getmtime(final):
            export_task_checkpoint(final, exported)
        return exported

    def closed_loop(self, vfn_ckpt: str, task_ckpt: str) -> str:
        a = self.args
        t = self.task
        cfg = stage_config(
            f'configs/cldyn/cldyn_{NETWORKS[t]}_1xb4-200_demo.py', a, {
                'model.fuser.vfn_checkpoint': vfn_ckpt,
                f'model.tasks.{t}.checkpoint': task_ckpt,
                f'train_dataloader.{t}.batch_size': a.cl_batch,
                'train_cfg.max_iters': a.cl_iters,
                'train_cfg.val_interval': a.cl_iters // 2,
                'default_hooks.checkpoint.interval': a.cl_iters // 2,
                **a.cl_options
            })
        final = self.train('closed_loop', cfg)
        best = self.path('closed_loop', 'best.pth')
        return best if osp.isfile(best) else final

    def evaluate(self, vfn_ckpt: str, task_ckpt: str, cldyn_ckpt: str) -> Dict[str, dict]:
        from mmengine.runner import Runner
        results = {}
        for mode in MODES:
            options = {
                'model.mode': mode,
                'model.task_adapter.checkpoint': task_ckpt,
                'model.fuser.vfn_checkpoint': vfn_ckpt,
                'model.fuser_checkpoint': cldyn_ckpt if mode == 'cldyn' else None,
                'work_dir': self.path('eval', mode),
                'experiment_name': f'eval_{mode}',
                'visualizer.name': f'visualizer_eval_{mode}'
            }
            cfg = stage_config(f'configs/fused_task/{NETWORKS[self.task]}_fused-eval_demo.py',
                               self.args, options)
            evaluators = [cfg.test_evaluator.to_dict()] if isinstance(
                cfg.test_evaluator, dict) else list(cfg.test_evaluator)
            if mode in ('vfn', 'cldyn'):
                evaluators.append(
                    dict(type='FusionQualityMetric', metric=FUSION_METRICS, fused_key='fused_img'))
            cfg.test_evaluator = evaluators
            cfg.dump(osp.join(self.cfg_dir, f'eval_{mode}.py'))
            runner = Runner.from_cfg(cfg)
            results[mode] = {
                k: float(v)
                for k, v in runner.test().items()
                if isinstance(v, numbers.Real) or hasattr(v, 'item')
            }
        return results

    def run(self) -> Optional[Dict]:
        stages = self.args.stage or list(STAGES)
        self.timed('data', self.data)
        vfn_ckpt = self.timed('vfn', self.vfn) if 'vfn' in stages else self._final('vfn')
        task_ckpt = self.timed('task', self.task_net, vfn_ckpt) if 'task' in stages \
            else self.path('task', 'task_net.pth')
        cl_ckpt = self.timed('closed_loop', self.closed_loop, vfn_ckpt, task_ckpt) \
            if 'closed_loop' in stages else self.path('closed_loop', 'best.pth')
        if 'eval' not in stages:
            return None
        results = self.timed('eval', self.evaluate, vfn_ckpt, task_ckpt, cl_ckpt)
        table = results_table(self.task, results)
        total = sum(self.times.values())
        times = ', '.join(f'{k} {v:.0f} s' for k, v in self.times.items())
        report = (f'# CLDyN demo pipeline ({self.task})\n\n{table}\n\nStage times: {times}; '
                  f'total {total / 60:.1f} min.\n')
        print('\n' + report)
        with open(self.path('results.md'), 'w') as f:
            f.write(report)
        with open(self.path('results.json'), 'w') as f:
            json.dump(dict(task=self.task, results=results, times=self.times), f, indent=2)
        return results

    def _final(self, name: str) -> str:
        with open(self.path(name, 'last_checkpoint')) as f:
            return f.read().strip()


def results_table(task: str, results: Dict[str, dict]) -> str:
    keys, _ = TASKS[task]
    task_keys = [k for k in keys if any(k in r for r in results.values())]
    fusion = [m for m in FUSION_METRICS if any(f'fusion/{m}' in r for r in results.values())]
    head = ['input'] + task_keys + fusion
    rows = ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
    names = dict(vis='VIS only', ir='IR only', vfn='VFN fusion', cldyn='CLDyN fusion')
    for mode, r in results.items():
        cells = [names.get(mode, mode)]
        cells += [f'{r[k]:.4g}' if k in r else '-' for k in task_keys]
        cells += [f'{r[f"fusion/{m}"]:.4g}' if f'fusion/{m}' in r else '-' for m in fusion]
        rows.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(rows)


def main(argv=None) -> int:
    args = parse_args(argv)
    from cldyn_mm.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    Pipeline(args).run()
    return 0


if __name__ == '__main__':
    sys.exit(main())
