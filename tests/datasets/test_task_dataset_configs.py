"""configs/_base_/datasets task configs: parse, build train and test datasets with an
overridden data_root, run one sample through each pipeline, build the evaluators. The bases
name their parts by task (``det_train_dataloader``, ``seg_val_evaluator``, ...)."""
from pathlib import Path

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.registry import DATASETS, METRICS
from task_data_helpers import make_fmb_layout, make_seg_layout, make_vt_layout

import cldyn_mm.evaluation.metrics.sod_metric  # noqa: F401  (registers SODMetric)
from cldyn_mm.testing.demo_data import generate_demo_dataset

CONFIG_DIR = Path(__file__).resolve().parents[2] / 'configs' / '_base_' / 'datasets'


@pytest.fixture(scope='module')
def roots(tmp_path_factory):
    base = tmp_path_factory.mktemp('cfg')
    demo = base / 'demo'
    generate_demo_dataset(str(demo), num_train=4, num_val=2, size=(96, 64), seed=2)
    msrs = base / 'msrs'
    for split in ('train', 'test'):
        make_seg_layout(msrs / split, 'ir', 'vi', 'Segmentation_labels')
    fmb = make_fmb_layout(base / 'fmb')
    vt5000 = make_vt_layout(base / 'vt5000')
    vt821 = make_vt_layout(base / 'vt821', split_dirs=('', ))
    return dict(demo=demo, msrs_seg=msrs, fmb=fmb, vt5000=vt5000, vt821=vt821)


def load(name: str) -> Config:
    """A dataset base with its parts under the mmdet names (train_dataloader, test_dataloader,
    val_evaluator), read from the task-keyed ones."""
    cfg = Config.fromfile(str(CONFIG_DIR / f'{name}.py'))
    key = name.rsplit('_', 1)[1]
    return Config(
        dict(
            train_dataloader=cfg[f'{key}_train_dataloader'],
            test_dataloader=cfg[f'{key}_val_dataloader'],
            val_evaluator=cfg[f'{key}_val_evaluator'],
            best_indicator=cfg[f'{key}_best_indicator']))


def _check(cfg: Config, train_root, test_root, task: str, test_overrides=None) -> None:
    for key, root in (('train_dataloader', train_root), ('test_dataloader', test_root)):
        dcfg = cfg[key]['dataset'].copy()
        dcfg['data_root'] = str(root)
        if key == 'test_dataloader' and test_overrides:
            dcfg.update(test_overrides)
        ds = DATASETS.build(dcfg)
        assert len(ds) > 0
        np.random.seed(0)
        out = ds[0]
        assert out['inputs'].ndim == 3 and out['inputs'].shape[0] == 4
        sample = out['data_samples']
        if task == 'det':
            assert type(sample).__name__ == 'DetDataSample'
            assert 'gt_instances' in sample and 'instances' in sample.metainfo
        else:
            assert type(sample).__name__ == 'SegDataSample'
            values = set(sample.gt_sem_seg.data.unique().tolist())
            assert values <= (set(range(len(ds.metainfo['classes']))) | {255})
            if key == 'test_dataloader':  # label at the original size
                assert tuple(sample.gt_sem_seg.shape) == tuple(sample.metainfo['ori_shape'])
        assert 'ir_path' in sample.metainfo and 'vi_path' in sample.metainfo


@pytest.mark.parametrize('name,task,root', [
    ('demo_det', 'det', 'demo'),
    ('demo_seg', 'seg', 'demo'),
    ('demo_sod', 'seg', 'demo'),
    ('msrs_seg', 'seg', 'msrs_seg'),
    ('fmb_seg', 'seg', 'fmb'),
    ('vt5000_sod', 'seg', 'vt5000'),
])
def test_config_on_synthetic_data(roots, name, task, root):
    cfg = load(name)
    _check(cfg, roots[root], roots[root], task)
    METRICS.build(cfg.val_evaluator)


@pytest.mark.parametrize('name', ['vt821_sod', 'vt1000_sod'])
def test_vt_test_configs(roots, name):
    cfg = load(name)
    assert cfg.test_dataloader.dataset.split == ''
    _check(cfg, roots['vt5000'], roots['vt821'], 'seg')


def test_paired_coco_config(roots):
    cfg = load('paired_coco_det')
    _check(cfg, roots['demo'], roots['demo'], 'det')
    METRICS.build(dict(cfg.val_evaluator, ann_file=str(roots['demo'] / 'annotations' / 'val.json')))


@pytest.mark.parametrize('name,sub', [('msrs_det', 'MSRS'), ('m3fd_det', 'M3FD')])
def test_detection_configs_on_shared_data(shared_data, name, sub):
    cfg = load(name)
    root = shared_data / 'det' / sub
    _check(cfg, root, root, 'det')
    METRICS.build(cfg.val_evaluator)


def _predict_ground_truth(sample, task):
    """A data sample as a model would return it, predicting exactly the ground truth."""
    import torch
    from mmengine.structures import InstanceData, PixelData
    if task == 'det':
        gt = sample.gt_instances
        sample.pred_instances = InstanceData(
            bboxes=gt.bboxes.tensor.clone(), labels=gt.labels.clone(), scores=torch.ones(len(gt)))
    else:
        sample.pred_sem_seg = PixelData(data=sample.gt_sem_seg.data.clone())
        sample.pred_saliency = PixelData(data=sample.gt_sem_seg.data.float())
    return sample.to_dict()


@pytest.mark.parametrize('name,task,key,expect', [
    ('demo_det', 'det', 'coco/bbox_mAP_50', 1.0),
    ('demo_seg', 'seg', 'mIoU', 100.0),
    ('demo_sod', 'seg', 'sod/MAE', 0.0),
])
def test_config_evaluators_accept_the_packed_samples(roots, name, task, key, expect):
    """Perfect predictions score perfectly: the packed ground truth (boxes at the original
    size, img_id, instances; label maps) is what mmdet's / mmseg's / our metrics expect."""
    cfg = load(name)
    dcfg = dict(cfg.test_dataloader.dataset, data_root=str(roots['demo']))
    ds = DATASETS.build(dcfg)
    metric = METRICS.build(cfg.val_evaluator)
    metric.dataset_meta = ds.metainfo
    metric.process({}, [_predict_ground_truth(ds[i]['data_samples'], task) for i in range(len(ds))])
    res = metric.evaluate(len(ds))
    assert res[key] == pytest.approx(expect)
    assert cfg.best_indicator in res  # the closed loop's best.pth reads this key


def test_a_detection_a_segmentation_and_a_saliency_base_compose(tmp_path):
    """The multi-task closed loop inherits one dataset base per task: their keys must not
    collide (MMEngine refuses a key defined in two bases)."""
    cfg_file = tmp_path / 'three.py'
    bases = [str(CONFIG_DIR / f'{n}.py') for n in ('m3fd_det', 'fmb_seg', 'vt5000_sod')]
    cfg_file.write_text(f'_base_ = {bases!r}\n')
    cfg = Config.fromfile(str(cfg_file))
    assert cfg.det_train_dataloader.dataset.type == 'M3FDDataset'
    assert cfg.seg_val_dataloader.dataset.type == 'FMBSegDataset'
    assert cfg.sod_val_evaluator.type == 'SODMetric'
