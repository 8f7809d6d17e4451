"""TaskVisualizationHook: predictions of the fused task wrappers drawn on IR | VIS | VFN | CLDyN
panels in MMEngine's test loop, through the config's visualizer (demo data, random-init
networks)."""
import importlib.util
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.runner import Runner

import cldyn_mm  # noqa: F401
from cldyn_mm.engine.hooks import TaskVisualizationHook
from cldyn_mm.registry import DATASETS, MODELS, VISUALIZERS
from cldyn_mm.structures import FusionDataSample
from cldyn_mm.testing.demo_data import generate_demo_dataset
from cldyn_mm.visualization import FusedDetVisualizer, FusedSegVisualizer, to_uint8_rgb

REPO = Path(__file__).resolve().parents[2]
CONFIGS = {
    'det': REPO / 'configs/fused_task/rtmdet-tiny_fused-eval_demo.py',
    'seg': REPO / 'configs/fused_task/segformer-b0_fused-eval_demo.py',
    'sod': REPO / 'configs/fused_task/sod-r18-fpn_fused-eval_demo.py'
}
W, H, GAP = 128, 96, 4
PANEL_FIELDS = ('ir_img', 'vis_img', 'vfn_img', 'cldyn_img')
PRED_FIELDS = ('ir_pred', 'vis_pred', 'vfn_pred', 'cldyn_pred')

pytestmark = pytest.mark.usefixtures('one_torch_thread')


@pytest.fixture(scope='module')
def demo_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('task_vis_demo')
    generate_demo_dataset(str(root), num_train=1, num_val=2, size=(W, H), seed=3)
    return root


def stems(root: Path):
    return (root / 'splits/val.txt').read_text().split()


def make_cfg(task: str, root: Path, work_dir: Path, out_dir=None, mode='cldyn') -> Config:
    cfg = Config.fromfile(str(CONFIGS[task]))
    cfg.merge_from_dict({'model.mode': mode})
    cfg.work_dir = str(work_dir)
    cfg.test_dataloader.dataset.data_root = str(root)
    cfg.test_dataloader.num_workers = 0
    cfg.test_dataloader.persistent_workers = False
    cfg.val_dataloader = None
    cfg.val_cfg = None
    cfg.val_evaluator = None
    cfg.log_level = 'WARNING'
    if out_dir is not None:
        cfg.default_hooks.visualization.update(draw=True, out_dir=str(out_dir), score_thr=0.0)
    if task == 'det':  # a random-init RTMDet scores below mmdet's threshold (STACK.md)
        cfg.model.task_adapter.model_overrides.test_cfg = dict(
            score_thr=0.0, min_bbox_size=-1, max_per_img=20)
    return cfg


@pytest.fixture(scope='module')
def runs(demo_root, tmp_path_factory, one_torch_thread):
    """Runner.test() of the det and seg wrappers (mode cldyn) with the hook on; records the
    data samples the hook drew and the runner's visualizer."""
    original = TaskVisualizationHook._draw
    results = {}

    def spy(self, runner, batch_idx, data_batch, outputs, step, out_dir=None):
        results[task]['samples'].extend(outputs)
        results[task]['visualizer'] = runner.visualizer
        return original(self, runner, batch_idx, data_batch, outputs, step, out_dir)

    TaskVisualizationHook._draw = spy
    try:
        for task in ('det', 'seg'):
            out_dir = tmp_path_factory.mktemp(f'show_{task}')
            work_dir = tmp_path_factory.mktemp(f'work_{task}')
            results[task] = dict(samples=[], out_dir=out_dir)
            cfg = make_cfg(task, demo_root, work_dir, out_dir)
            runner = Runner.from_cfg(cfg)
            results[task]['metrics'] = runner.test()
            results[task]['model'] = runner.model
            results[task]['vis_data'] = work_dir / runner.timestamp / 'vis_data' / 'vis_image'
    finally:
        TaskVisualizationHook._draw = original
    return results


@pytest.mark.parametrize('task', ['det', 'seg'])
def test_panels_written_per_stem(runs, demo_root, task):
    run = runs[task]
    assert run['metrics']  # evaluation unaffected
    assert run['model'].vis_panels is False  # restored after the test epoch
    assert type(run['visualizer']) is (FusedDetVisualizer if task == 'det' else FusedSegVisualizer
                                       )  # the config's choice
    for k, stem in enumerate(stems(demo_root)):
        panel = cv2.imread(str(run['out_dir'] / f'{stem}.png'))
        assert panel is not None, f'no panel for {stem}'
        assert panel.shape == (H, 4 * W + 3 * GAP, 3)
        assert (panel[:, W:W + GAP] == 255).all()  # white separator
        # the LocalVisBackend got the same panel (test step = batch index)
        backend = cv2.imread(str(run['vis_data'] / f'task_{stem}_{k}.png'))
        assert backend is not None and np.array_equal(backend, panel)
    assert len(run['samples']) == 2
    for sample in run['samples']:
        assert isinstance(sample, FusionDataSample)
        for field in ('fused_img', ) + PANEL_FIELDS:
            img = sample.get(field)
            assert img.shape == (3, H, W) and img.min() >= 0 and img.max() <= 1, field
        assert all(f in sample for f in PRED_FIELDS)  # a prediction per tile image
        # fresh CLDyN fuser: the compensated image is the VFN image, and it is what the task saw
        assert torch.equal(sample.cldyn_img, sample.vfn_img)
        assert torch.equal(sample.fused_img, sample.cldyn_img)
        assert torch.equal(sample.ir_img[0], sample.ir_img[1])


@pytest.mark.parametrize('task', ['det', 'seg'])
def test_each_tile_shows_its_own_predictions(runs, task):
    """score_thr=0 / any segmentation: every tile is drawn, from the predictions made on its
    own image (the IR tile's differ from the CLDyN tile's); a detection threshold above every
    score draws nothing."""
    run = runs[task]
    vis = run['visualizer']
    field = 'pred_instances' if task == 'det' else 'pred_sem_seg'
    for sample in run['samples']:
        vis.title = False
        try:
            plain = vis.draw_panel(sample, draw_pred=False)
            drawn = vis.draw_panel(sample, pred_score_thr=0.0)
            assert drawn.shape == plain.shape == (H, 4 * W + 3 * GAP, 3)
            for i, key in enumerate(('ir', 'vis', 'vfn', 'cldyn')):
                tile = slice(i * (W + GAP), i * (W + GAP) + W)
                assert (drawn[:, tile] != plain[:, tile]).any(), f'tile {key} not drawn'
                alone = vis.draw_tile(
                    to_uint8_rgb(sample.get(f'{key}_img')), sample.get(f'{key}_pred'), 0.0)
                assert np.array_equal(drawn[:, tile], alone), key
            ir, own = sample.ir_pred.get(field), sample.get(field)
            assert not torch.equal(ir.data if task == 'seg' else ir.bboxes,
                                   own.data if task == 'seg' else own.bboxes)
            if task == 'det':
                assert len(sample.pred_instances) > 0
                assert np.array_equal(vis.draw_panel(sample, pred_score_thr=2.0), plain)
        finally:
            vis.title = True


def test_default_off_and_sod(demo_root, tmp_path):
    """Configs keep the hook off and the wrappers attach only ``fused_img`` (one forward, no
    panel predictions); SOD draws a heat overlay on that one tile."""
    cfg = make_cfg('sod', demo_root, tmp_path, mode='vis')
    assert cfg.default_hooks.visualization.type == 'TaskVisualizationHook'
    assert cfg.default_hooks.visualization.draw is False
    assert cfg.visualizer.type == 'FusedSegVisualizer'
    with DefaultScope.overwrite_default_scope('cldyn_mm'):
        ds = DATASETS.build(cfg.test_dataloader.dataset)
        model = MODELS.build(cfg.model)
        vis = VISUALIZERS.build(
            dict(cfg.visualizer, name='test_sod_vis', vis_backends=[], title=False))
    vis.dataset_meta = ds.metainfo
    item = ds[0]
    data = model.data_preprocessor(
        dict(inputs=[item['inputs']], data_samples=[item['data_samples']]))
    sample = model(**data, mode='predict')[0]
    assert 'fused_img' in sample and not any(f in sample for f in PANEL_FIELDS + PRED_FIELDS)
    assert sample.fused_img.shape == (3, H, W)
    panel = vis.add_datasample('sod', None, sample)
    assert panel.shape == (H, W, 3)
    assert not np.array_equal(panel, to_uint8_rgb(sample.fused_img))


def test_tools_test_show_dir(demo_root, tmp_path):
    """tools/test.py --show-dir turns the hook (and the wrapper's vis_panels) on."""
    model = MODELS.build(make_cfg('seg', demo_root, tmp_path, mode='vfn').model)
    ckpt = tmp_path / 'seg_fused.pth'
    torch.save(dict(state_dict=model.state_dict()), ckpt)
    spec = importlib.util.spec_from_file_location('cldyn_tools_test_vis', REPO / 'tools/test.py')
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    show = tmp_path / 'show'
    metrics = tool.main([
        str(CONFIGS['seg']),
        str(ckpt), '--work-dir',
        str(tmp_path / 'w'), '--show-dir',
        str(show), '--cfg-options', 'model.mode=vfn',
        f'test_dataloader.dataset.data_root={demo_root}', 'test_dataloader.num_workers=0',
        'test_dataloader.persistent_workers=False'
    ])
    assert 'mIoU' in metrics
    for stem in stems(demo_root):
        panel = cv2.imread(str(show / f'{stem}.png'))
        assert panel is not None and panel.shape == (H, 4 * W + 3 * GAP, 3)
