"""The closed loop as an MMEngine run: configs/cldyn/cldyn_*_demo.py through Runner on a few
tiny generated demo pairs (96x64, pipelines scaled by 0.3, random task networks).

Covers: logging of the per-task values, validation in cldyn mode with ``<task>/`` metrics,
best.pth, exact resume (Gumbel noise and random augmentation on), the three-task config, and
the errors raised before training starts (empty dataloader, checkpoint of another config).
"""
import json
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

from cldyn_mm.testing import main_process_loaders, rescale_pipelines, set_data_root
from cldyn_mm.testing.demo_data import generate_demo_dataset

REPO = Path(__file__).resolve().parents[2]
TRAINED = ('fuser.rsc_ir.', 'fuser.rsc_vis.', 'fuser.bank.')


@pytest.fixture(scope='module')
def demo_root(tmp_path_factory) -> str:
    root = tmp_path_factory.mktemp('demo')
    generate_demo_dataset(str(root), num_train=4, num_val=2, size=(96, 64), seed=0)
    return str(root) + '/'


def demo_cfg(name: str, root: str, work_dir: Path, **options) -> Config:
    cfg = Config.fromfile(str(REPO / 'configs' / 'cldyn' / f'{name}.py'))
    keys = ('train_dataloader', 'val_dataloader', 'test_dataloader')
    rescale_pipelines({k: cfg[k] for k in keys}, 0.3)  # shared pipelines scaled once
    for key in keys:
        main_process_loaders(cfg[key])
        set_data_root(cfg[key], root)
        for loader in cfg[key].values():
            loader['batch_size'] = 2 if key == 'train_dataloader' else 1
    cfg.work_dir = str(work_dir)
    cfg.experiment_name = work_dir.name
    cfg.visualizer.name = f'visualizer_{work_dir.name}'  # one per run in this process
    cfg.merge_from_dict({
        'train_cfg.max_iters': 4,
        'train_cfg.val_interval': 2,
        'default_hooks.checkpoint.interval': 2,
        'default_hooks.logger.interval': 1,
        'randomness.seed': 0,
        **options
    })
    return cfg


def trained_state(path) -> dict:
    state = torch.load(path, map_location='cpu', weights_only=False)['state_dict']
    return {k: v for k, v in state.items() if k.startswith(TRAINED)}


@pytest.fixture(scope='module')
def seg_run(demo_root, tmp_path_factory):
    """4 iterations of configs/cldyn/cldyn_segformer-b0_1xb4-200_demo.py, checkpoints at 2 and 4."""
    work = tmp_path_factory.mktemp('cl_seg_a')
    runner = Runner.from_cfg(
        demo_cfg(
            'cldyn_segformer-b0_1xb4-200_demo', demo_root, work, **{
                'default_hooks.visualization.draw': True,
                'default_hooks.visualization.draw_val': True
            }))
    runner.train()
    return work


def test_run_logs_task_values_validates_in_cldyn_mode_and_keeps_best(seg_run):
    scalars = next(seg_run.glob('*/vis_data/scalars.json'))
    records = [json.loads(line) for line in scalars.read_text().splitlines()]
    train = [r for r in records if 'seg/L0' in r]
    assert len(train) == 4
    assert {'seg/L1', 'seg/penalty', 'seg/alpha', 'grad_norm/rsc_ir', 'lr'} <= set(train[0])
    assert all(r['seg/penalty'] >= 0 for r in train)
    val = [r for r in records if 'seg/mIoU' in r]
    assert len(val) == 2  # iterations 2 and 4
    assert (seg_run / 'best.pth').is_file()
    best = json.loads((seg_run / 'best.json').read_text())
    assert best['iter'] in (2, 4) and set(best['values']) == {'seg'}
    # the visualization hook drew IR | VIS | VFN | CLDyN panels with the predictions
    assert list(seg_run.glob('*/vis_data/vis_image/task_demo_*.png'))
    # the trained parts moved, the frozen ones did not
    first, last = trained_state(seg_run / 'iter_2.pth'), trained_state(seg_run / 'iter_4.pth')
    assert any(not torch.equal(first[k], last[k]) for k in first)


def test_resume_reaches_the_same_parameters_as_an_uninterrupted_run(seg_run, demo_root, tmp_path):
    """Resume from iteration 2 and train to 4: the RSC, bank, BN statistics and optimizer
    state equal those of the uninterrupted run (Gumbel noise and random augmentation on: the
    random states are restored from the checkpoint)."""
    cfg = demo_cfg(
        'cldyn_segformer-b0_1xb4-200_demo',
        demo_root,
        tmp_path / 'resumed',
        resume=True,
        load_from=str(seg_run / 'iter_2.pth'))
    Runner.from_cfg(cfg).train()
    ours = torch.load(tmp_path / 'resumed' / 'iter_4.pth', map_location='cpu', weights_only=False)
    ref = torch.load(seg_run / 'iter_4.pth', map_location='cpu', weights_only=False)
    keys = [k for k in ref['state_dict'] if k.startswith(TRAINED)]
    assert keys
    for k in keys:
        assert torch.equal(ours['state_dict'][k], ref['state_dict'][k]), k
    for a, b in zip(ours['optimizer']['state'].values(), ref['optimizer']['state'].values()):
        assert torch.equal(a['exp_avg'], b['exp_avg'])


def test_three_task_config_runs_with_per_task_metrics(demo_root, tmp_path):
    cfg = demo_cfg('cldyn_multitask_1xb4-200_demo', demo_root, tmp_path / 'multi',
                   **{'train_cfg.max_iters': 2})
    runner = Runner.from_cfg(cfg)
    runner.train()
    scalars = next((tmp_path / 'multi').glob('*/vis_data/scalars.json'))
    records = [json.loads(line) for line in scalars.read_text().splitlines()]
    alphas = [[r[f'{t}/alpha'] for t in ('det', 'seg', 'sod')] for r in records if 'det/alpha' in r]
    assert len(alphas) == 2 and all(abs(sum(a) - 1) < 1e-5 for a in alphas)
    val = [r for r in records if 'seg/mIoU' in r][-1]
    # (the random detector finds nothing, and CocoMetric then reports no det/ metrics)
    assert 'sod/sod/MAE' in val


def test_empty_task_dataloader_is_an_error_before_training(demo_root, tmp_path):
    empty = tmp_path / 'empty.txt'
    empty.write_text('')
    cfg = demo_cfg('cldyn_segformer-b0_1xb4-200_demo', demo_root, tmp_path / 'empty',
                   **{'train_dataloader.seg.dataset.ann_file': str(empty)})
    runner = Runner.from_cfg(cfg)
    with pytest.raises(Exception, match=r'train_dataloader\.seg'):
        runner.train()
    assert not list((tmp_path / 'empty').glob('iter_*.pth'))


def test_checkpoint_of_another_configuration_is_refused(seg_run, demo_root, tmp_path):
    cfg = demo_cfg(
        'cldyn_segformer-b0_1xb4-200_demo',
        demo_root,
        tmp_path / 'other',
        load_from=str(seg_run / 'iter_2.pth'),
        **{'model.fuser.rsc.filter_num': 2})
    runner = Runner.from_cfg(cfg)
    with pytest.raises(ValueError, match='another configuration.*shape mismatches'):
        runner.train()
    assert not list((tmp_path / 'other').glob('iter_*.pth'))


def test_checkpoints_record_the_closed_loop_options_and_resume_refuses_others(
        seg_run, demo_root, tmp_path):
    ckpt = torch.load(seg_run / 'iter_2.pth', map_location='cpu', weights_only=False)
    options = ckpt['meta']['closed_loop_options']
    assert options['clip_bank'] is False and options['freeze_prototypes'] is False
    assert options['cagrad_quadratic'] == 0.5 and options['clip_norm'] == 1.0
    cfg = demo_cfg(
        'cldyn_segformer-b0_1xb4-200_demo',
        demo_root,
        tmp_path / 'other_options',
        resume=True,
        load_from=str(seg_run / 'iter_2.pth'),
        **{'optim_wrapper.clip_bank': True})
    with pytest.raises(ValueError, match='clip_bank: checkpoint False, config True'):
        Runner.from_cfg(cfg).train()
    assert not list((tmp_path / 'other_options').glob('iter_*.pth'))
