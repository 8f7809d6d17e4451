"""Stage 1.5: TrainableFusedDetector / TrainableFusedSegmentor train mmdet / mmseg networks on
fused images through MMEngine's Runner (configs/fused_task/*_fused_1xb4-2k_demo.py); demo data,
random-init networks, 2 iterations."""
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.runner import Runner

import cldyn_mm  # noqa: F401
from cldyn_mm.models.task_wrappers import (TrainableFusedDetector, TrainableFusedSegmentor,
                                           export_task_checkpoint)
from cldyn_mm.registry import DATASETS, MODELS
from cldyn_mm.testing.demo_data import generate_demo_dataset

REPO = Path(__file__).resolve().parents[2]
NETWORKS = {'det': 'rtmdet-tiny', 'seg': 'segformer-b0', 'sod': 'sod-r18-fpn'}
CONFIGS = {t: REPO / f'configs/fused_task/{n}_fused_1xb4-2k_demo.py' for t, n in NETWORKS.items()}
W, H = 128, 96
ITERS = 2

pytestmark = pytest.mark.usefixtures('one_torch_thread')


@pytest.fixture(scope='module')
def demo_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('task_trainer_demo')
    generate_demo_dataset(str(root), num_train=4, num_val=1, size=(W, H), seed=5)
    return root


@pytest.fixture(scope='module')
def vfn_ckpt(tmp_path_factory):
    torch.manual_seed(1)
    cfg = Config.fromfile(str(CONFIGS['det']))
    vfn = MODELS.build(cfg.model.fuser)
    path = tmp_path_factory.mktemp('vfn') / 'vfn.pth'
    torch.save(dict(state_dict=vfn.state_dict()), path)
    return path


def make_cfg(task: str, mode: str, root: Path, work_dir: Path, vfn_ckpt: Path) -> Config:
    cfg = Config.fromfile(str(CONFIGS[task]))
    cfg.merge_from_dict({'model.mode': mode})  # as --cfg-options model.mode=...
    if mode == 'vfn':
        cfg.model.fuser_checkpoint = str(vfn_ckpt)
    cfg.work_dir = str(work_dir)
    cfg.log_level = 'WARNING'
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=ITERS, val_interval=1000)
    cfg.param_scheduler = None
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=ITERS, by_epoch=False)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    cfg.test_dataloader = cfg.test_cfg = cfg.test_evaluator = None
    dl = cfg.train_dataloader
    dl.batch_size, dl.num_workers, dl.persistent_workers = 2, 0, False
    dl.dataset.data_root = str(root)
    for t in dl.dataset.pipeline:  # small crops: fast on CPU
        if t['type'] == 'RandomResize':
            t['scale'] = (W, H)
        if t['type'].endswith('RandomCrop'):
            t['crop_size'] = (64, 64)
    if task == 'det':  # a random-init RTMDet scores below mmdet's threshold
        cfg.model.task_adapter.model_overrides.test_cfg = dict(
            score_thr=0.0, min_bbox_size=-1, max_per_img=20)
    return cfg


def _params(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _batch(cfg, task):
    """A val batch (test pipeline, original size) of one image."""
    base = Config.fromfile(str(REPO / f'configs/_base_/datasets/demo_{task}.py'))
    ds_cfg = base[f'{task}_val_dataloader'].dataset
    ds_cfg.data_root = cfg.train_dataloader.dataset.data_root
    with DefaultScope.overwrite_default_scope('cldyn_mm'):
        ds = DATASETS.build(ds_cfg)
    item = ds[0]
    return dict(inputs=[item['inputs']], data_samples=[item['data_samples']])


def _pred(sample) -> torch.Tensor:
    if 'pred_instances' in sample:
        p = sample.pred_instances
        return torch.cat([p.bboxes.flatten(), p.scores, p.labels.float()])
    return torch.cat([sample.seg_logits.data.flatten(), sample.pred_sem_seg.data.float().flatten()])


@pytest.mark.parametrize('task,mode', [('det', 'vfn'), ('det', 'vis'), ('seg', 'vfn'),
                                       ('seg', 'vis')])
def test_train_and_export(task, mode, demo_root, vfn_ckpt, tmp_path):
    cfg = make_cfg(task, mode, demo_root, tmp_path / 'work', vfn_ckpt)
    torch.manual_seed(0)
    runner = Runner.from_cfg(cfg)
    model = runner.model
    assert isinstance(model, TrainableFusedDetector if task == 'det' else TrainableFusedSegmentor)
    assert model.fusion_mode == mode
    assert (model.fuser is None) == (mode == 'vis')
    task_before = _params(model.task_model)
    fuser_before = _params(model.fuser) if model.fuser is not None else None
    runner.train()
    assert runner.iter == ITERS
    task_after = _params(model.task_model)
    changed = [k for k in task_before if not torch.equal(task_before[k], task_after[k])]
    assert len(changed) > len(task_before) // 4, 'the task network did not train'
    if fuser_before is not None:
        vfn_state = torch.load(vfn_ckpt, weights_only=True)['state_dict']
        for k, v in _params(model.fuser).items():
            assert torch.equal(v, fuser_before[k]) and torch.equal(v, vfn_state[k])
        assert not any(p.requires_grad for p in model.fuser.parameters())
        assert not model.fuser.training
    assert any(p.requires_grad for p in model.task_model.parameters())

    # the checkpoint -> a frozen task adapter (strict loading) gives the trainer's predictions
    ckpt = tmp_path / 'work' / f'iter_{ITERS}.pth'
    assert ckpt.is_file()
    out = tmp_path / 'task_net.pth'
    state = export_task_checkpoint(str(ckpt), str(out))
    assert not any(k.startswith(('fuser.', 'adapter.')) for k in state)
    adapter = MODELS.build(dict(cfg.model.task_adapter, checkpoint=str(out)))
    assert type(adapter).__name__ == cfg.model.task_adapter.type
    assert not any(p.requires_grad for p in adapter.parameters())
    model.eval()
    data = model.data_preprocessor(_batch(cfg, task))
    pred_trainer = model(data['inputs'], data['data_samples'], mode='predict')
    data = model.data_preprocessor(_batch(cfg, task))
    fused = model(data['inputs'], mode='tensor')
    pred_adapter = adapter.predict(fused, data['data_samples'])
    for a, b in zip(pred_trainer, pred_adapter):
        torch.testing.assert_close(_pred(a), _pred(b))
    # the trainer checkpoint also loads into the evaluation wrapper as it is (same keys;
    # adapter.feature_module.* is the adapter's alias of its feature layer)
    keys = torch.load(ckpt, weights_only=False)['state_dict'].keys()
    assert all(k.startswith(('adapter.model.', 'adapter.feature_module.', 'fuser.'))
               for k in keys), sorted(keys)
    wrapper_cfg = Config.fromfile(
        str(REPO / f'configs/fused_task/{NETWORKS[task]}_fused-eval_demo.py')).model
    wrapper = MODELS.build(dict(wrapper_cfg, mode='vis', task_adapter=cfg.model.task_adapter))
    wrapper_keys = set(wrapper.state_dict())
    assert {k for k in keys if not k.startswith('fuser.')} == wrapper_keys


def test_sod_loss_and_errors(demo_root, vfn_ckpt, tmp_path):
    cfg = make_cfg('sod', 'vfn', demo_root, tmp_path, vfn_ckpt)
    model = MODELS.build(cfg.model)
    model.train()
    assert model.task_model.training and not model.fuser.training
    with DefaultScope.overwrite_default_scope('cldyn_mm'):
        ds = DATASETS.build(cfg.train_dataloader.dataset)
    data = model.data_preprocessor(
        dict(inputs=[ds[0]['inputs']], data_samples=[ds[0]['data_samples']]), training=True)
    losses = model(**data, mode='loss')
    assert {'decode.loss_bce', 'decode.loss_iou'} <= set(losses)
    total = sum(v for k, v in losses.items() if 'loss' in k)
    total.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.task_model.parameters())
    assert all(p.grad is None for p in model.fuser.parameters())
    with pytest.raises(ValueError, match='mode must be one of'):
        MODELS.build(dict(cfg.model, mode='cldyn'))
    det = Config.fromfile(str(CONFIGS['det']))
    with pytest.raises(ValueError, match='needs a task adapter'):
        MODELS.build(dict(cfg.model, task_adapter=det.model.task_adapter))


@pytest.mark.parametrize('task,mode,metric', [('sod', 'ir', 'sod/MAE'),
                                              ('det', 'vis', 'coco/bbox_mAP')])
def test_tools_train_cli_with_val(task, mode, metric, demo_root, tmp_path, monkeypatch):
    """tools/train.py CONFIG --cfg-options model.mode=...: trains and validates (predict mode
    with the config's metric)."""
    import importlib.util

    from mmengine.runner import ValLoop
    val_metrics = []
    original_run = ValLoop.run

    def run(self):
        val_metrics.append(original_run(self))
        return val_metrics[-1]

    monkeypatch.setattr(ValLoop, 'run', run)
    spec = importlib.util.spec_from_file_location('cldyn_tools_train', REPO / 'tools/train.py')
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    opts = [
        f'model.mode={mode}', 'train_cfg.max_iters=2', 'train_cfg.val_interval=2',
        'default_hooks.logger.interval=1', 'log_level=WARNING'
    ]
    for split in ('train', 'val'):
        opts += [
            f'{split}_dataloader.dataset.data_root={demo_root}',
            f'{split}_dataloader.num_workers=0', f'{split}_dataloader.persistent_workers=False'
        ]
    opts += [
        'train_dataloader.batch_size=2', 'train_dataloader.dataset.pipeline.2.scale=(128,96)',
        'train_dataloader.dataset.pipeline.3.crop_size=(64,64)'
    ]
    if task == 'det':
        opts.append('model.task_adapter.model_overrides.test_cfg.score_thr=0.0')
    runner = tool.main([
        str(CONFIGS[task]), '--work-dir',
        str(tmp_path), '--tensorboard', 'off', '--cfg-options', *opts
    ])
    assert runner.iter == 2 and runner.model.fusion_mode == mode
    assert (tmp_path / 'iter_2.pth').is_file()
    assert len(val_metrics) == 1 and metric in val_metrics[0], val_metrics
    print(task, mode, val_metrics[0])


def test_runner_initialises_the_detector_with_its_own_init_but_downloads_nothing(
        demo_root, vfn_ckpt, tmp_path):
    """A freshly built trainer starts from mmdet's head init (classification bias prior), not
    from raw layer defaults, whose first RTMDet classification loss is in the thousands; the
    backbone's 'Pretrained' init_cfg (a download) is skipped by default."""
    cfg = make_cfg('det', 'vis', demo_root, tmp_path, vfn_ckpt)
    with DefaultScope.overwrite_default_scope('cldyn_mm'):
        model = MODELS.build(cfg.model)
        pretrained = [
            m for m in model.task_model.modules() if isinstance(getattr(m, 'init_cfg', None), dict)
            and m.init_cfg.get('type') == 'Pretrained'
        ]
        assert pretrained, 'the RTMDet config names an ImageNet-pretrained backbone'
        model.init_weights()  # what the Runner does; must not try to download
        torch.manual_seed(0)
        batch = _batch(cfg, 'det')
        data = model.data_preprocessor(batch, True)
        losses = model(**data, mode='loss')
    assert float(
        losses['loss_cls'][0] if isinstance(losses['loss_cls'], list) else losses['loss_cls']) < 10
