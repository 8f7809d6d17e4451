"""configs/_base_/datasets task configs: parse, build train and test datasets with an
overridden data_root, run one sample through each pipeline, build the evaluators."""
from pathlib import Path

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.registry import DATASETS, METRICS
from task_data_helpers import make_fmb_layout, make_seg_layout, make_vt_layout

import cldyn_mm.evaluation.metrics.sod_metric  # noqa: F401  (registers SODMetric)
from cldyn_mm.datasets.demo import generate_demo_dataset

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
    cfg = Config.fromfile(str(CONFIG_DIR / f'{name}.py'))
    _check(cfg, roots[root], roots[root], task)
    METRICS.build(cfg.val_evaluator)


@pytest.mark.parametrize('name', ['vt821_sod', 'vt1000_sod'])
def test_vt_test_configs(roots, name):
    cfg = Config.fromfile(str(CONFIG_DIR / f'{name}.py'))
    assert cfg.test_dataloader.dataset.split == ''
    _check(cfg, roots['vt5000'], roots['vt821'], 'seg')


def test_paired_coco_config(roots):
    cfg = Config.fromfile(str(CONFIG_DIR / 'paired_coco_det.py'))
    _check(cfg, roots['demo'], roots['demo'], 'det')
    METRICS.build(dict(cfg.val_evaluator, ann_file=str(roots['demo'] / 'annotations' / 'val.json')))


@pytest.mark.parametrize('name,sub', [('msrs_det', 'MSRS'), ('m3fd_det', 'M3FD')])
def test_detection_configs_on_shared_data(shared_data, name, sub):
    cfg = Config.fromfile(str(CONFIG_DIR / f'{name}.py'))
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
    cfg = Config.fromfile(str(CONFIG_DIR / f'{name}.py'))
    dcfg = dict(cfg.test_dataloader.dataset, data_root=str(roots['demo']))
    ds = DATASETS.build(dcfg)
    metric = METRICS.build(cfg.test_evaluator)
    metric.dataset_meta = ds.metainfo
    metric.process({}, [_predict_ground_truth(ds[i]['data_samples'], task) for i in range(len(ds))])
    res = metric.evaluate(len(ds))
    assert res[key] == pytest.approx(expect)
