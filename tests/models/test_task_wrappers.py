"""FusedDetector / FusedSegmentor: frozen task networks evaluated on fused images through
MMEngine's test loop (configs/fused_task/*_fused-eval_demo.py), tiny random networks, demo
data."""
import importlib.util
import math
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.runner import Runner

import cldyn_mm  # noqa: F401
from cldyn_mm.models.task_adapters import BaseTaskAdapter
from cldyn_mm.models.task_wrappers import (FUSION_MODES, FusedDetector, FusedSegmentor,
                                           FusedTaskDataPreprocessor)
from cldyn_mm.registry import DATASETS, MODELS
from cldyn_mm.testing.demo_data import generate_demo_dataset

REPO = Path(__file__).resolve().parents[2]
CONFIGS = {
    'det': REPO / 'configs/fused_task/rtmdet-tiny_fused-eval_demo.py',
    'seg': REPO / 'configs/fused_task/segformer-b0_fused-eval_demo.py',
    'sod': REPO / 'configs/fused_task/sod-r18-fpn_fused-eval_demo.py'
}
METRIC_KEYS = {
    'det': ('coco/bbox_mAP', 'coco/bbox_mAP_50'),
    'seg': ('mIoU', 'aAcc'),
    'sod': ('sod/MAE', 'sod/maxF', 'sod/S', 'sod/meanE')
}
W, H = 128, 96

pytestmark = pytest.mark.usefixtures('one_torch_thread')


@pytest.fixture(scope='module')
def demo_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('task_wrapper_demo')
    generate_demo_dataset(str(root), num_train=1, num_val=2, size=(W, H), seed=3)
    return root


def make_cfg(task: str, mode: str, root: Path, work_dir: Path) -> Config:
    cfg = Config.fromfile(str(CONFIGS[task]))
    cfg.merge_from_dict({'model.mode': mode})  # as --cfg-options model.mode=...
    cfg.work_dir = str(work_dir)
    cfg.test_dataloader.dataset.data_root = str(root)
    cfg.test_dataloader.num_workers = 0
    cfg.test_dataloader.persistent_workers = False
    cfg.val_dataloader = None
    cfg.val_cfg = None
    cfg.val_evaluator = None
    cfg.log_level = 'WARNING'
    if task == 'det':  # a random-init RTMDet scores below mmdet's threshold (STACK.md)
        cfg.model.task_adapter.model_overrides.test_cfg = dict(
            score_thr=0.0, min_bbox_size=-1, max_per_img=20)
    return cfg


def _pred(sample) -> torch.Tensor:
    if 'pred_instances' in sample:
        p = sample.pred_instances
        return torch.cat([p.bboxes.flatten(), p.scores, p.labels.float()])
    return torch.cat([sample.seg_logits.data.flatten(), sample.pred_sem_seg.data.float().flatten()])


@pytest.fixture(scope='module')
def runs(demo_root, tmp_path_factory):
    """Runner.test() for each task and mode; records what the adapter was given."""
    original = BaseTaskAdapter.predict
    record = {}

    def spy(self, fused_rgb, data_samples=None):
        out = original(self, fused_rgb, data_samples)
        record.setdefault('fused', []).append(fused_rgb.detach().clone())
        record.setdefault('pred', []).append([_pred(s).clone() for s in out])
        return out

    BaseTaskAdapter.predict = spy
    results = {}
    try:
        for task in CONFIGS:
            for mode in FUSION_MODES:
                record = {}
                cfg = make_cfg(task, mode, demo_root, tmp_path_factory.mktemp(f'{task}_{mode}'))
                runner = Runner.from_cfg(cfg)
                metrics = runner.test()
                results[task, mode] = dict(metrics=metrics, model=runner.model, **record)
                print(task, mode, {
                    k: float(v)
                    for k, v in metrics.items() if k in METRIC_KEYS[task]
                })
    finally:
        BaseTaskAdapter.predict = original
    return results


@pytest.mark.parametrize('task', list(CONFIGS))
@pytest.mark.parametrize('mode', FUSION_MODES)
def test_metrics_per_mode(runs, task, mode):
    run = runs[task, mode]
    assert isinstance(run['model'], FusedDetector if task == 'det' else FusedSegmentor)
    assert run['model'].fusion_mode == mode
    for key in METRIC_KEYS[task]:
        assert key in run['metrics'], sorted(run['metrics'])
        assert math.isfinite(float(run['metrics'][key]))
    assert len(run['fused']) == 2  # two val images, batch size 1
    for fused in run['fused']:
        assert fused.dim() == 4 and fused.shape[:2] == (1, 3)
        assert fused.min() >= 0 and fused.max() <= 1


@pytest.mark.parametrize('task', list(CONFIGS))
def test_modes_feed_different_images(runs, task):
    vis, ir, vfn = (runs[task, m]['fused'] for m in ('vis', 'ir', 'vfn'))
    for v, i, f in zip(vis, ir, vfn):
        assert v.shape == i.shape == f.shape
        assert not torch.allclose(v, i)
        assert not torch.allclose(v, f) and not torch.allclose(i, f)
        assert torch.equal(i[:, 0], i[:, 1]) and torch.equal(i[:, 0], i[:, 2])
        assert not torch.equal(v[:, 0], v[:, 2])  # colour visible image


@pytest.mark.parametrize('task', list(CONFIGS))
def test_fresh_cldyn_equals_vfn(runs, task):
    vfn, cldyn = runs[task, 'vfn'], runs[task, 'cldyn']
    for a, b in zip(vfn['fused'], cldyn['fused']):
        assert torch.equal(a, b)
    for a, b in zip(vfn['pred'], cldyn['pred']):
        for x, y in zip(a, b):
            assert torch.equal(x, y)
    for key in METRIC_KEYS[task]:
        assert float(vfn['metrics'][key]) == float(cldyn['metrics'][key])


def _batch(demo_root, task):
    cfg = make_cfg(task, 'vis', demo_root, demo_root / 'unused')
    with DefaultScope.overwrite_default_scope('cldyn_mm'):
        ds = DATASETS.build(cfg.test_dataloader.dataset)
    item = ds[0]
    return dict(inputs=[item['inputs']], data_samples=[item['data_samples']])


def test_cldyn_uses_task_feature(demo_root):
    """An RSC with non-zero zero convs changes the fusion; T is the feature of the VFN image."""
    cfg = make_cfg('seg', 'cldyn', demo_root, demo_root / 'unused')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    with torch.no_grad():
        for chain in (model.fuser.rsc_ir, model.fuser.rsc_vis):
            for block in chain.blocks:
                block.zero_conv.weight.normal_(0, 0.3)
    data = model.data_preprocessor(_batch(demo_root, 'seg'))
    seen = []
    original = model.adapter.task_feature

    def feature(fused):
        seen.append(fused.clone())
        return original(fused)

    model.adapter.task_feature = feature
    comp = model(data['inputs'], mode='tensor')
    vfn = model.fuser.fuse(data['inputs'])['fused']
    assert len(seen) == 1 and torch.equal(seen[0], vfn)
    assert comp.shape == vfn.shape and not torch.allclose(comp, vfn)


def test_config_errors_and_checkpoint(demo_root, tmp_path):
    det = make_cfg('det', 'vfn', demo_root, tmp_path)
    seg = make_cfg('seg', 'vfn', demo_root, tmp_path)
    with pytest.raises(ValueError, match='mode must be one of'):
        MODELS.build(dict(det.model, mode='fused'))
    with pytest.raises(ValueError, match='needs a task adapter'):
        MODELS.build(dict(det.model, task_adapter=seg.model.task_adapter))
    with pytest.raises(ValueError, match='needs a CLDyNFuser'):
        MODELS.build(dict(seg.model, mode='cldyn', fuser=dict(type='VFNFuser')))
    torch.manual_seed(1)
    vfn = MODELS.build(dict(type='VFNFuser'))
    ckpt = tmp_path / 'vfn.pth'
    torch.save(dict(state_dict=vfn.state_dict()), ckpt)
    model = MODELS.build(dict(seg.model, fuser=dict(type='VFNFuser'), fuser_checkpoint=str(ckpt)))
    assert isinstance(model.data_preprocessor, FusedTaskDataPreprocessor)
    for k, v in vfn.state_dict().items():
        assert torch.equal(model.fuser.state_dict()[k], v)
    assert not any(p.requires_grad for p in model.parameters())
    model.train()
    assert not model.fuser.training and not model.adapter.model.training
    with pytest.raises(NotImplementedError):
        model(None, mode='loss')
    with pytest.raises(RuntimeError, match='does not fit'):
        MODELS.build(dict(seg.model, fuser_checkpoint=str(ckpt)))  # CLDyNFuser: RSC missing


def test_tools_test_cli(runs, demo_root, tmp_path):
    """tools/test.py CONFIG CKPT --cfg-options model.mode=ir prints the metrics."""
    ckpt = tmp_path / 'seg_fused.pth'
    torch.save(dict(state_dict=runs['seg', 'ir']['model'].state_dict()), ckpt)
    spec = importlib.util.spec_from_file_location('cldyn_tools_test', REPO / 'tools/test.py')
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    metrics = tool.main([
        str(CONFIGS['seg']),
        str(ckpt), '--work-dir',
        str(tmp_path / 'w'), '--cfg-options', 'model.mode=ir',
        f'test_dataloader.dataset.data_root={demo_root}', 'test_dataloader.num_workers=0',
        'test_dataloader.persistent_workers=False'
    ])
    assert float(metrics['mIoU']) == float(runs['seg', 'ir']['metrics']['mIoU'])
