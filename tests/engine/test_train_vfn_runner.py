"""VFN trains through MMEngine's Runner: logs, checkpoints, validates and resumes exactly."""
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


@pytest.fixture(scope='module')
def pairs(tmp_path_factory):
    root = tmp_path_factory.mktemp('pairs')
    rng = np.random.default_rng(0)
    (root / 'ir').mkdir()
    (root / 'vi').mkdir()
    for i in range(6):
        vi = cv2.GaussianBlur(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8), (5, 5), 0)
        ir = cv2.GaussianBlur(rng.integers(0, 256, (32, 32), dtype=np.uint8), (3, 3), 0)
        cv2.imwrite(str(root / 'ir' / f'{i:03d}.png'), ir)
        cv2.imwrite(str(root / 'vi' / f'{i:03d}.png'), vi)
    return str(root)


def _cfg(data_root, work_dir, max_iters):
    cfg = Config.fromfile(osp.join(REPO, 'configs/vfn/vfn_1xb8-200_demo.py'))
    pipeline = [
        dict(type='LoadIRVisPair'),
        dict(type='RandomFlip', prob=0.5),
        dict(type='PackFusionInputs')
    ]
    cfg.merge_from_dict({
        'work_dir': work_dir,
        'train_dataloader.batch_size': 2,
        'train_dataloader.num_workers': 0,
        'train_dataloader.persistent_workers': False,
        'train_dataloader.dataset.data_root': data_root,
        'train_dataloader.dataset.ann_file': '',
        'train_dataloader.dataset.pipeline': pipeline,
        'val_dataloader.num_workers': 0,
        'val_dataloader.persistent_workers': False,
        'val_dataloader.dataset.data_root': data_root,
        'val_dataloader.dataset.ann_file': '',
        'test_dataloader.num_workers': 0,
        'test_dataloader.persistent_workers': False,
        'test_dataloader.dataset.data_root': data_root,
        'test_dataloader.dataset.ann_file': '',
        'train_cfg.max_iters': max_iters,
        'train_cfg.val_interval': 4,
        'default_hooks.checkpoint.interval': 2,
        'default_hooks.logger.interval': 1,
        'val_evaluator.metric': ['EN', 'SD'],
        'test_evaluator.metric': ['EN', 'SD'],
    })
    return cfg


def _params(runner):
    return {k: v.detach().clone() for k, v in runner.model.state_dict().items()}


def test_train_checkpoint_resume_equals_uninterrupted(pairs, tmp_path):
    full = Runner.from_cfg(_cfg(pairs, str(tmp_path / 'full'), 4))
    full.train()
    assert osp.isfile(tmp_path / 'full' / 'iter_4.pth')
    want = _params(full)

    first = Runner.from_cfg(_cfg(pairs, str(tmp_path / 'split'), 2))
    first.train()
    assert osp.isfile(tmp_path / 'split' / 'iter_2.pth')
    cfg = _cfg(pairs, str(tmp_path / 'split'), 4)
    cfg.resume = True  # latest checkpoint of the work dir, as tools/train.py --resume does
    second = Runner.from_cfg(cfg)
    second.train()
    assert second.iter == 4
    got = _params(second)
    assert want.keys() == got.keys()
    for k in want:
        assert torch.allclose(want[k].float(), got[k].float(), atol=1e-6), k


def test_trained_checkpoint_tests_and_visualizes(pairs, tmp_path):
    runner = Runner.from_cfg(_cfg(pairs, str(tmp_path / 'run'), 2))
    runner.train()
    cfg = _cfg(pairs, str(tmp_path / 'run'), 2)
    cfg.load_from = str(tmp_path / 'run' / 'iter_2.pth')
    cfg.default_hooks.visualization.out_dir = 'panels'
    tester = Runner.from_cfg(cfg)
    metrics = tester.test()
    assert set(metrics) == {'fusion/EN', 'fusion/SD'}
    assert all(np.isfinite(v) for v in metrics.values())
    panels = osp.join(str(tmp_path / 'run'), tester.timestamp, 'panels')
    img = cv2.imread(osp.join(panels, '000.png'))
    assert img.shape == (32, 3 * 32 + 2 * 4, 3)  # IR | VIS | fused with 4-px gaps
    # the visualizer's LocalVisBackend keeps the same panel (test step = batch index)
    local = osp.join(
        str(tmp_path / 'run'), tester.timestamp, 'vis_data', 'vis_image', 'fusion_000_0.png')
    assert np.array_equal(cv2.imread(local), img)
