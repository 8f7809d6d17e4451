#!/usr/bin/env python
"""Evaluate one mode of the msrs_det experiment with ``tools/test.py`` and keep the results.

    python tools/experiments/msrs_det_eval.py \
        configs/experiments/msrs_det/rtmdet-tiny_fused-eval_msrs.py CKPT \
        --out W/eval/vfn [--show-dir W/eval/vfn/panels] [--dump-fused] \
        --cfg-options model.mode=vfn model.fuser.vfn_checkpoint=W/vfn/iter_500.pth

Runs ``tools/test.py CONFIG CKPT --work-dir OUT`` and writes ``OUT/metrics.json`` (the
CocoMetric values, the mode, the checkpoint, the wall time). ``--dump-fused`` also writes the
image the detector saw for every test pair to ``OUT/fused/<stem>.png`` (RGB, at the pair's
original size: the wrapper's ``fused_img``), for the fusion metrics of VFN and CLDyN images at
the detector's resolution.
"""
import argparse
import json
import os
import os.path as osp
import sys
import time

import cv2
import numpy as np
from mmengine.hooks import Hook

from cldyn_mm.registry import HOOKS

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


@HOOKS.register_module(force=True)
class DumpFusedImageHook(Hook):
    """Write every test sample's ``fused_img`` (RGB float in [0, 1]) to ``out_dir/<stem>.png``."""

    def __init__(self, out_dir: str) -> None:
        self.out_dir = out_dir

    def before_test(self, runner) -> None:
        os.makedirs(self.out_dir, exist_ok=True)

    def after_test_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        for sample in outputs or []:
            img = sample.fused_img.permute(1, 2, 0).cpu().numpy()
            img = np.clip(img * 255.0 + 0.5, 0, 255).astype(np.uint8)
            stem = sample.metainfo.get('stem') or osp.splitext(
                osp.basename(sample.metainfo['img_path']))[0]
            cv2.imwrite(osp.join(self.out_dir, f'{stem}.png'), img[..., ::-1])


def load_test_tool():
    import importlib.util
    spec = importlib.util.spec_from_file_location('cldyn_test_tool',
                                                  osp.join(REPO, 'tools', 'test.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('config')
    p.add_argument('checkpoint')
    p.add_argument('--out', required=True, help='work dir of the test; metrics.json goes here')
    p.add_argument('--show-dir', help='IR | VIS | VFN | CLDyN panels with the boxes')
    p.add_argument('--dump-fused', action='store_true', help='write OUT/fused/<stem>.png')
    p.add_argument('--cfg-options', nargs='+', default=[], help='key=value overrides')
    args = p.parse_args(argv)

    out = osp.abspath(args.out)
    options = list(args.cfg_options)
    tool = load_test_tool()
    if args.dump_fused:
        hook = dict(type='DumpFusedImageHook', out_dir=osp.join(out, 'fused'))
        runner_cls = tool.Runner

        class _Runner(runner_cls):  # tools/test.py's Runner with the dump hook added

            @classmethod
            def from_cfg(cls, cfg):
                cfg.custom_hooks = list(cfg.get('custom_hooks') or []) + [hook]
                return runner_cls.from_cfg(cfg)

        tool.Runner = _Runner
    test_argv = [args.config, args.checkpoint, '--work-dir', out]
    if args.show_dir:
        test_argv += ['--show-dir', osp.abspath(args.show_dir)]
    if options:
        test_argv += ['--cfg-options', *options]
    t0 = time.time()
    metrics = tool.main(test_argv)
    seconds = time.time() - t0
    mode = next((o.split('=', 1)[1] for o in args.cfg_options if o.startswith('model.mode=')), None)
    option = dict(o.split('=', 1) for o in args.cfg_options if '=' in o)
    gt_json = osp.join(out, 'coco.gt.json')
    num_images = None
    if osp.isfile(gt_json):  # CocoMetric(outfile_prefix=OUT/coco) wrote the ground truth
        with open(gt_json) as f:
            num_images = len(json.load(f)['images'])
    result = dict(
        mode=mode,
        checkpoint=osp.abspath(args.checkpoint),
        seconds=round(seconds, 1),
        data_root=option.get('test_dataloader.dataset.data_root'),
        ann_file=option.get('test_dataloader.dataset.ann_file'),
        num_images=num_images,
        cfg_options=args.cfg_options,
        metrics={
            k: float(v)
            for k, v in (metrics or {}).items() if isinstance(v, (int, float))
        })
    with open(osp.join(out, 'metrics.json'), 'w') as f:
        json.dump(result, f, indent=1)
    print(json.dumps(result['metrics']))
    return 0


if __name__ == '__main__':
    sys.exit(main())
