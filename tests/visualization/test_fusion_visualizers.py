"""The registered panel visualizers: tile layout and sizes, each tile drawn from the
predictions made on its own image, the vis backends, and the fused task model predicting once
per tile only when drawing (a fake detector whose boxes depend on the image)."""
import importlib.util

import cv2
import numpy as np
import pytest
import torch
import torch.nn as nn
from mmdet.structures import DetDataSample
from mmdet.visualization import DetLocalVisualizer
from mmengine.structures import InstanceData, PixelData
from mmseg.visualization import SegLocalVisualizer

from cldyn_mm.registry import MODELS, VISUALIZERS
from cldyn_mm.structures import FusionDataSample, prediction_sample
from cldyn_mm.visualization import FusionVisualizer, to_uint8_rgb

pytestmark = pytest.mark.usefixtures('one_torch_thread')

H, W, GAP = 64, 64, 4
META = dict(classes=('person', 'car'), palette=[(220, 20, 60), (0, 0, 142)])


def _build(vis_type, tmp_path=None, **kwargs):
    """A visualizer built like the runner builds one (get_instance, unique name)."""
    cfg = dict(type=vis_type, name=f'test_{vis_type}_{_build.count}', title=False, **kwargs)
    _build.count += 1
    if tmp_path is not None:
        cfg.update(vis_backends=[dict(type='LocalVisBackend')], save_dir=str(tmp_path))
    vis = VISUALIZERS.build(cfg)
    vis.dataset_meta = dict(META)
    return vis


_build.count = 0


def _grey(value: float, c: int = 3) -> torch.Tensor:
    return torch.full((c, H, W), value)


def _boxes(*xyxy, score=0.9, label=0) -> InstanceData:
    n = len(xyxy)
    return InstanceData(
        bboxes=torch.tensor(xyxy, dtype=torch.float32),
        scores=torch.full((n, ), score),
        labels=torch.full((n, ), label))


def _tile(panel: np.ndarray, i: int) -> np.ndarray:
    return panel[:, i * (W + GAP):i * (W + GAP) + W]


def _changed_columns(tile: np.ndarray, plain: np.ndarray) -> np.ndarray:
    """Columns changed by drawing, looked at below the label text (boxes span rows 6-58,
    mmdet writes the label at the box's top left, reaching to its right)."""
    return np.nonzero((tile[44:] != plain[44:]).any(axis=(0, 2)))[0]


def test_registered_and_subclassing_mmdet_mmseg():
    assert VISUALIZERS.get('FusionVisualizer') is FusionVisualizer
    assert issubclass(VISUALIZERS.get('FusedDetVisualizer'), DetLocalVisualizer)
    assert issubclass(VISUALIZERS.get('FusedSegVisualizer'), SegLocalVisualizer)


def test_fusion_panel_from_the_packed_pair_goes_to_backend_and_file(tmp_path):
    """A fuser's sample (only pred_fused) + the packed pair: IR | VIS | fused, all at the
    fused image's size, in the LocalVisBackend folder and in out_file."""
    vis = _build('FusionVisualizer', tmp_path)
    rng = np.random.default_rng(0)
    packed = torch.from_numpy(rng.integers(0, 256, (4, H, W)).astype(np.float32))
    sample = FusionDataSample(metainfo=dict(stem='p'))
    sample.pred_fused = torch.rand(3, H, W)
    out = tmp_path / 'out' / 'p.png'
    panel = vis.add_datasample('fusion_p', packed, sample, out_file=str(out), step=3)
    assert panel.shape == (H, 3 * W + 2 * GAP, 3) and panel.dtype == np.uint8
    assert (panel[:, W:W + GAP] == 255).all()
    assert (panel[:, 2 * W + GAP:2 * W + 2 * GAP] == 255).all()
    ir = packed[3].numpy().round().astype(np.uint8)
    assert np.array_equal(_tile(panel, 0), np.repeat(ir[..., None], 3, axis=2))
    assert np.array_equal(
        _tile(panel, 1), packed[[2, 1, 0]].permute(1, 2, 0).numpy().round().astype(np.uint8))
    assert np.array_equal(_tile(panel, 2), to_uint8_rgb(sample.pred_fused))
    assert np.array_equal(vis.get_image(), panel)
    assert np.array_equal(cv2.imread(str(out))[..., ::-1], panel)
    backend = tmp_path / 'vis_data' / 'vis_image' / 'fusion_p_3.png'
    assert np.array_equal(cv2.imread(str(backend))[..., ::-1], panel)
    # a pair at another size (a resizing pipeline) is resized to the fused image
    small = vis.add_datasample('q', packed[:, ::2, ::2], sample)
    assert small.shape == panel.shape


def test_panel_tiles_order_titles_and_fused_tile():
    vis = _build('FusionVisualizer')
    s = FusionDataSample()
    s.ir_img, s.vis_img = _grey(0.2, 1), _grey(0.4)
    s.vfn_img = _grey(0.6)
    s.cldyn_img = s.fused_img = _grey(0.8)
    assert [t[0] for t in vis.panel_tiles(s)] == ['IR', 'VIS', 'VFN', 'CLDyN']
    assert vis.draw_panel(s).shape == (H, 4 * W + 3 * GAP, 3)
    only = FusionDataSample()
    only.fused_img = _grey(0.5)  # a task model's sample without panels: one tile
    assert [t[0] for t in vis.panel_tiles(only)] == ['fused']
    assert vis.draw_panel(only).shape == (H, W, 3)
    mode_ir = FusionDataSample()
    mode_ir.ir_img, mode_ir.vis_img = _grey(0.2), _grey(0.4)
    mode_ir.fused_img = _grey(0.2)  # mode 'ir': the IR tile is the fused image
    assert [t[0] for t in vis.panel_tiles(mode_ir)] == ['IR', 'VIS']
    titled = _build('FusionVisualizer')
    titled.title = True
    drawn = titled.draw_panel(s)
    for i in range(4):  # the name is written in the top rows only
        assert (_tile(drawn, i)[:20] != _tile(vis.draw_panel(s), i)[:20]).any()
        assert np.array_equal(_tile(drawn, i)[20:], _tile(vis.draw_panel(s), i)[20:])
    with pytest.raises(ValueError, match='no image'):
        vis.add_datasample('x', None, FusionDataSample())


def _det_sample() -> FusionDataSample:
    """IR | VIS | VFN: IR's boxes on the left, VIS's on the right; the detector saw the VFN
    image (fused_img) and found a box in the middle; no separate vfn_pred."""
    s = FusionDataSample(metainfo=dict(stem='d', ori_shape=(H, W)))
    s.ir_img, s.vis_img = _grey(0.3), _grey(0.5)
    s.vfn_img = s.fused_img = _grey(0.7)
    s.pred_instances = _boxes([26, 6, 38, 58])
    s.ir_pred = prediction_sample(FusionDataSample(pred_instances=_boxes([2, 6, 14, 58])))
    s.vis_pred = prediction_sample(
        FusionDataSample(pred_instances=_boxes([50, 6, 62, 58], label=1)))
    return s


def test_det_tiles_are_drawn_from_their_own_predictions(monkeypatch):
    vis = _build('FusedDetVisualizer')
    s = _det_sample()
    calls = []
    original = DetLocalVisualizer.add_datasample

    def spy(self, name, image, data_sample=None, *args, **kwargs):
        calls.append(data_sample.pred_instances.bboxes.clone())
        return original(self, name, image, data_sample, *args, **kwargs)

    monkeypatch.setattr(DetLocalVisualizer, 'add_datasample', spy)
    panel = vis.add_datasample('d', None, s, pred_score_thr=0.3)
    plain = vis.draw_panel(s, draw_pred=False)
    assert panel.shape == (H, 3 * W + 2 * GAP, 3)
    # drawn through mmdet's public add_datasample, once per tile, each with its own boxes
    assert [c[0, 0].item() for c in calls] == [2, 50, 26]
    for i, (lo, hi) in enumerate(((0, 20), (44, 64), (20, 44))):
        cols = _changed_columns(_tile(panel, i), _tile(plain, i))
        assert len(cols) and cols.min() >= lo and cols.max() < hi, (i, cols)
    # the same tile drawn alone from the tile's own predictions is identical
    alone = vis.draw_tile(to_uint8_rgb(s.ir_img), s.ir_pred, 0.3)
    assert np.array_equal(_tile(panel, 0), alone)


def test_det_score_threshold_and_untrained_boxes():
    vis = _build('FusedDetVisualizer')
    s = FusionDataSample()
    s.fused_img = _grey(0.5)
    s.pred_instances = _boxes([10, 10, 20, 20], score=0.2)
    assert np.array_equal(
        vis.add_datasample('t', None, s, pred_score_thr=0.3), to_uint8_rgb(s.fused_img))
    s.pred_instances = _boxes([30, 30, 10, 5], score=0.9)  # flipped corners: still drawn
    drawn = vis.add_datasample('t', None, s, pred_score_thr=0.3)
    assert (drawn != to_uint8_rgb(s.fused_img)).any()
    # the model did not predict on a tile: that tile stays undrawn
    s2 = _det_sample()
    del s2.vis_pred
    panel = vis.add_datasample('u', None, s2, pred_score_thr=0.3)
    assert np.array_equal(_tile(panel, 1), to_uint8_rgb(s2.vis_img))


def _seg_sample() -> FusionDataSample:
    s = FusionDataSample(metainfo=dict(ori_shape=(H, W)))
    s.ir_img, s.vis_img = _grey(0.3), _grey(0.5)
    top = torch.full((1, H, W), 255, dtype=torch.long)  # 255: ignored, not painted
    bottom = top.clone()
    top[:, :H // 2] = 1
    bottom[:, H // 2:] = 1
    s.ir_pred = FusionDataSample(pred_sem_seg=PixelData(data=top))
    s.vis_pred = FusionDataSample(pred_sem_seg=PixelData(data=bottom))
    s.fused_img = s.vis_img
    s.pred_sem_seg = s.vis_pred.pred_sem_seg
    return s


@pytest.mark.parametrize('vis_type', ['FusedSegVisualizer', 'FusionVisualizer'])
def test_seg_tiles_are_drawn_from_their_own_predictions(vis_type, monkeypatch):
    vis = _build(vis_type, with_labels=False) if vis_type == 'FusedSegVisualizer' else \
        _build(vis_type)
    if vis_type == 'FusionVisualizer':  # delegating: drawn without class-name labels too
        vis._task_drawer('seg').with_labels = False
    calls = []
    original = SegLocalVisualizer.add_datasample

    def spy(self, name, image, data_sample=None, *args, **kwargs):
        calls.append(data_sample.pred_sem_seg.data.clone())
        return original(self, name, image, data_sample, *args, **kwargs)

    monkeypatch.setattr(SegLocalVisualizer, 'add_datasample', spy)
    s = _seg_sample()
    panel = vis.add_datasample('s', None, s)
    plain = vis.draw_panel(s, draw_pred=False)
    assert panel.shape == (H, 2 * W + GAP, 3) and len(calls) == 2
    # class 1 (palette (0, 0, 142)) painted blue where that tile's own map has it: the IR
    # tile's top half, the VIS tile's bottom half (mmseg dims the rest by 1 - alpha)
    for i, rows in enumerate((slice(0, H // 2), slice(H // 2, H))):
        tile = _tile(panel, i).astype(int)
        blue = tile[..., 2] - tile[..., 0] > 30
        assert blue[rows].all() and not np.delete(blue, np.arange(H)[rows], axis=0).any()
        assert (tile != _tile(plain, i)).any()


def test_saliency_heat_overlay_and_multitask_fusion_visualizer():
    s = FusionDataSample()
    s.fused_img = _grey(0.5)
    sal = torch.zeros(1, H, W)
    sal[:, :, :W // 2] = 1.0
    s.pred_saliency = PixelData(data=sal)
    s.pred_sem_seg = PixelData(data=(sal > 0.5).long())
    for vis in (_build('FusedSegVisualizer'), _build('FusionVisualizer')):
        drawn = vis.add_datasample('sod', None, s)
        plain = to_uint8_rgb(s.fused_img)
        # JET blended with alpha 0.5 on grey: reddish where salient, bluish elsewhere
        d = drawn.astype(int)
        assert (d[:, :W // 2, 0] - d[:, :W // 2, 2] > 40).all()
        assert (d[:, W // 2:, 2] - d[:, W // 2:, 0] > 40).all()
        assert (plain[..., 0] == plain[..., 2]).all()
    # one FusionVisualizer draws a detection sample too (the closed loop mixes tasks)
    det = _det_sample()
    vis = _build('FusionVisualizer')
    panel = vis.add_datasample('d', None, det)
    assert (panel != vis.draw_panel(det, draw_pred=False)).any()


@pytest.mark.skipif(
    importlib.util.find_spec('tensorboard') is None, reason='tensorboard not installed')
def test_tensorboard_backend_receives_the_panel(tmp_path):
    vis = VISUALIZERS.build(
        dict(
            type='FusionVisualizer',
            name='test_tb',
            save_dir=str(tmp_path),
            vis_backends=[dict(type='TensorboardVisBackend')]))
    s = FusionDataSample()
    s.pred_fused = torch.rand(3, H, W)
    vis.add_datasample('fusion_tb', torch.rand(4, H, W) * 255, s)
    vis.close()
    assert list((tmp_path / 'vis_data').rglob('events.out.tfevents.*'))


# ---------------------------------------------------------------------------- the models
@MODELS.register_module(force=True)
class _BrightLeftDetector(nn.Module):
    """A fake det adapter: one box on the left for a bright image, on the right for a dark
    one; counts its predict calls."""
    task = 'det'

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0
        self.dataset_meta = None

    def init_weights(self) -> None:
        pass

    def predict(self, fused, data_samples):
        self.calls += 1
        for img, sample in zip(fused, data_samples):
            x = 2.0 if img.mean() > 0.5 else W - 14.0
            sample.pred_instances = _boxes([x, 6, x + 12, 58])
        return list(data_samples)

    def task_feature(self, fused):
        return fused.mean(dim=(2, 3), keepdim=True)


def _batch(model):
    ir = torch.full((1, H, W), 230.)  # bright infrared, dark visible
    inputs = torch.cat([torch.full((3, H, W), 30.), ir])
    sample = DetDataSample(metainfo=dict(img_shape=(H, W), ori_shape=(H, W), stem='m'))
    return model.data_preprocessor(dict(inputs=[inputs], data_samples=[sample]))


@pytest.mark.parametrize('mode, tiles', [('vis', ['ir', 'vis']), ('vfn', ['ir', 'vis', 'vfn'])])
def test_model_predicts_once_per_tile_only_when_drawing(mode, tiles):
    model = MODELS.build(
        dict(
            type='FusedDetector',
            mode=mode,
            task_adapter=dict(type='_BrightLeftDetector'),
            fuser=dict(type='VFNFuser', fusion_net=dict(type='VFN', channels=4, num_blocks=1))))
    adapter = model.adapter
    out = model(**_batch(model), mode='predict')[0]  # evaluation: one forward, no panels
    assert adapter.calls == 1 and isinstance(out, FusionDataSample)
    assert not any(f'{k}_img' in out or f'{k}_pred' in out for k in tiles)
    adapter.calls = 0
    model.vis_panels = True  # what the hooks do while drawing
    out = model(**_batch(model), mode='predict')[0]
    assert adapter.calls == len(tiles)  # the mode's own image is not predicted twice
    for key in tiles:
        assert f'{key}_img' in out and f'{key}_pred' in out
    assert out.get(f'{mode}_img') is out.fused_img
    assert torch.equal(out.get(f'{mode}_pred').pred_instances.bboxes, out.pred_instances.bboxes)
    # the IR tile shows the boxes the network finds on IR, not those of the mode's image
    assert out.ir_pred.pred_instances.bboxes[0, 0] == 2.0
    assert out.vis_pred.pred_instances.bboxes[0, 0] == W - 14.0
    vis = _build('FusedDetVisualizer')
    panel = vis.add_datasample('m', None, out)
    plain = vis.draw_panel(out, draw_pred=False)
    assert panel.shape == (H, len(tiles) * W + (len(tiles) - 1) * GAP, 3)
    for i, key in enumerate(tiles):
        cols = _changed_columns(_tile(panel, i), _tile(plain, i))
        x1 = int(out.get(f'{key}_pred').pred_instances.bboxes[0, 0])
        assert cols.min() >= x1 - 3 and cols.max() <= x1 + 12 + 3, (key, cols)
