"""FusionInferencer: names / configs, paths / arrays / folders, batching, task predictions,
files on disk and the errors of bad inputs. Tiny images (64 x 48), random-init networks."""
import json
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config

from cldyn_mm.apis import FusionInferencer, UnknownModelError, fuse_folder, init_fuser
from cldyn_mm.registry import MODELS

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
VFN_CONFIG = osp.join(REPO, 'configs', 'vfn', 'vfn_1xb8-200_demo.py')
CLDYN_CONFIG = osp.join(REPO, 'configs', 'cldyn', 'cldyn_vfn-rsc_pairs.py')
DET_CONFIG = osp.join(REPO, 'configs', 'fused_task', 'rtmdet-tiny_fused-eval_demo.py')
SEG_CONFIG = osp.join(REPO, 'configs', 'fused_task', 'segformer-b0_fused-eval_demo.py')
SOD_CONFIG = osp.join(REPO, 'configs', 'fused_task', 'sod-r18-fpn_fused-eval_demo.py')
# a random-init RTMDet scores below mmdet's threshold: keep every box (as the wrapper tests);
# the test pipeline's Resize (320 x 256) shrunk to the test images' size, for speed
DET_OPTIONS = {
    'model.mode': 'cldyn',
    'model.task_adapter.model_overrides.test_cfg':
    dict(score_thr=0.0, min_bbox_size=-1, max_per_img=5),
    'test_dataloader.dataset.pipeline.1.scale': (64, 48)
}
W, H = 64, 48

pytestmark = pytest.mark.usefixtures('one_torch_thread')


def _scene(seed: int, w: int = W, h: int = H):
    """An 8-bit infrared image (H, W) and a BGR visible image (H, W, 3) with some structure."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    ir = (80 + 60 * np.sin(xx / 5.0 + seed) + rng.normal(0, 10, (h, w))).clip(0, 255)
    ir[h // 4:h // 2, w // 3:w // 2] = 240  # a warm object
    vi = np.stack([(xx * 3 + 20 * c + rng.normal(0, 8, (h, w))) % 256 for c in range(3)], -1)
    return ir.astype(np.uint8), vi.astype(np.uint8)


@pytest.fixture(scope='module')
def pairs(tmp_path_factory):
    """ir/ and vi/ folders: a.png, b.png (64 x 48) and c.png (40 x 32)."""
    root = tmp_path_factory.mktemp('pairs')
    for m in ('ir', 'vi'):
        (root / m).mkdir()
    for i, (stem, size) in enumerate((('a', (W, H)), ('b', (W, H)), ('c', (40, 32)))):
        ir, vi = _scene(i, *size)
        cv2.imwrite(str(root / 'ir' / f'{stem}.png'), ir)
        cv2.imwrite(str(root / 'vi' / f'{stem}.png'), vi)
    return root


def _bgr(rgb: torch.Tensor) -> np.ndarray:
    return (rgb.clamp(0, 1) * 255 + 0.5).to(torch.uint8).permute(1, 2, 0).numpy()[..., ::-1]


def _save(model, path):
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, path)
    return str(path)


def _activate_rsc(fuser):
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for chain in (fuser.rsc_ir, fuser.rsc_vis):
            for block in chain.blocks:
                w = block.zero_conv.weight
                w.copy_(0.5 * torch.randn(w.shape, generator=g))


@pytest.fixture(scope='module')
def ckpts(tmp_path_factory):
    """Checkpoints of freshly built models: VFN fuser, CLDyN fuser and CLDyN detector (both
    with non-zero zero convs, so the compensation changes the image)."""
    root = tmp_path_factory.mktemp('ckpts')
    torch.manual_seed(0)
    vfn = _save(MODELS.build(Config.fromfile(VFN_CONFIG).model), root / 'vfn.pth')
    cldyn = MODELS.build(Config.fromfile(CLDYN_CONFIG).model)
    _activate_rsc(cldyn)
    cfg = Config.fromfile(DET_CONFIG)
    cfg.merge_from_dict(DET_OPTIONS)
    det = MODELS.build(cfg.model)
    _activate_rsc(det.fuser)
    (root / 'not_a_ckpt.pth').write_text('hello, I am text\n')
    return dict(
        vfn=vfn,
        cldyn=_save(cldyn, root / 'cldyn.pth'),
        det=_save(det, root / 'det.pth'),
        text=str(root / 'not_a_ckpt.pth'))


@pytest.fixture(scope='module')
def vfn(ckpts):
    return FusionInferencer(VFN_CONFIG, ckpts['vfn'], show_progress=False)


@pytest.fixture(scope='module')
def det(ckpts):
    return FusionInferencer(DET_CONFIG, ckpts['det'], cfg_options=DET_OPTIONS, show_progress=False)


def _index(tmp_path, config, weights):
    (tmp_path / 'metafile.yml').write_text(
        f'Collections:\n  - Name: VFN\nModels:\n  - Name: vfn_tiny\n    In Collection: VFN\n'
        f'    Config: {config}\n    Weights: {weights}\n')
    (tmp_path / 'model-index.yml').write_text('Import:\n  - metafile.yml\n')
    return str(tmp_path / 'model-index.yml')


def test_name_from_index_equals_config_and_weights(tmp_path, pairs, ckpts, vfn):
    index = _index(tmp_path, VFN_CONFIG, ckpts['vfn'])
    named = FusionInferencer('vfn_tiny', index=index, show_progress=False)
    assert named.weights == ckpts['vfn'] and named.task is None
    pair = (pairs / 'ir' / 'a.png', pairs / 'vi' / 'a.png')
    a = named(pair)['predictions'][0]
    b = vfn(pair)['predictions'][0]
    assert a['stem'] == 'a' and set(a) == {'stem', 'fused'}
    assert a['fused'].shape == (H, W, 3) and a['fused'].dtype == np.uint8
    assert np.array_equal(a['fused'], b['fused'])
    with pytest.raises(
            UnknownModelError, match=r"'vfn_tny' is not in the model index .*"
            'did you mean vfn_tiny'):
        FusionInferencer('vfn_tny', index=index)


def test_same_files_as_fuse_folder(tmp_path, pairs, ckpts, vfn):
    """The inferencer writes exactly what the former tools/fuse.py (fuse_folder) wrote; the
    returned BGR image is the written file; a rerun skips, overwrite redoes."""
    model = init_fuser(VFN_CONFIG, ckpts['vfn'])
    fuse_folder(model, str(pairs / 'ir'), str(pairs / 'vi'), str(tmp_path / 'old'), progress=False)
    res = vfn(ir=pairs / 'ir', vi=pairs / 'vi', out_dir=str(tmp_path / 'new'), batch_size=2)
    assert (res['written'], res['skipped'], res['total']) == (3, 0, 3)
    for r in res['predictions']:
        old = cv2.imread(str(tmp_path / 'old' / f"{r['stem']}.png"))
        new = cv2.imread(str(tmp_path / 'new' / f"{r['stem']}.png"))
        assert np.array_equal(old, new) and np.array_equal(new, r['fused']), r['stem']
    again = vfn(ir=pairs / 'ir', vi=pairs / 'vi', out_dir=str(tmp_path / 'new'))
    assert (again['written'], again['skipped'], again['predictions']) == (0, 3, [])
    redo = vfn(
        ir=pairs / 'ir',
        vi=pairs / 'vi',
        out_dir=str(tmp_path / 'new'),
        overwrite=True,
        return_results=False,
        ext='jpg')
    assert redo['written'] == 3 and redo['predictions'] == []
    assert osp.isfile(tmp_path / 'new' / 'c.jpg')


def test_arrays_go_through_the_same_path(pairs, vfn):
    ir = cv2.imread(str(pairs / 'ir' / 'a.png'), cv2.IMREAD_UNCHANGED)
    vi = cv2.imread(str(pairs / 'vi' / 'a.png'))
    ref = vfn((str(pairs / 'ir' / 'a.png'), str(pairs / 'vi' / 'a.png')))['predictions'][0]
    variants = [(ir, vi), (ir[..., None], vi), (ir.astype(np.uint16) * 257, vi),
                (cv2.cvtColor(ir, cv2.COLOR_GRAY2BGR), vi), (str(pairs / 'ir' / 'a.png'), vi)]
    out = vfn(variants)['predictions']
    assert [o['stem'] for o in out] == ['pair_0000', 'pair_0001', 'pair_0002', 'pair_0003', 'a']
    for o in out:
        assert np.array_equal(o['fused'], ref['fused'])
    grey_vis = vfn((ir, cv2.cvtColor(vi, cv2.COLOR_BGR2GRAY)))['predictions'][0]['fused']
    assert grey_vis.shape == (H, W, 3)


def test_folders_and_batching(pairs, vfn):
    one = vfn(ir=str(pairs / 'ir'), vi=str(pairs / 'vi'), batch_size=1)['predictions']
    two = vfn((str(pairs / 'ir'), str(pairs / 'vi')), batch_size=3)['predictions']
    assert [r['stem'] for r in one] == ['a', 'b', 'c'] == sorted(r['stem'] for r in two)
    assert one[2]['fused'].shape == (32, 40, 3)
    by_stem = {r['stem']: r['fused'] for r in two}
    for r in one:
        assert np.abs(r['fused'].astype(int) - by_stem[r['stem']].astype(int)).max() <= 1
    workers = vfn(
        ir=str(pairs / 'ir'), vi=str(pairs / 'vi'), num_workers=1,
        return_datasamples=True)['predictions']
    assert [s.metainfo['stem'] for s in workers] == ['a', 'b', 'c']
    assert workers[0].fused_img.shape == (3, H, W)  # data samples: RGB in [0, 1]
    assert np.array_equal(_bgr(workers[0].fused_img), one[0]['fused'])


def test_fixed_task_feature_and_panels(tmp_path, pairs, ckpts):
    inf = FusionInferencer(CLDYN_CONFIG, ckpts['cldyn'], show_progress=False)
    pair = (str(pairs / 'ir' / 'a.png'), str(pairs / 'vi' / 'a.png'))
    feat = torch.randn(1, 4, 3, 3, generator=torch.Generator().manual_seed(2))
    plain = inf(pair)['predictions'][0]['fused']
    res = inf(pair, task_feat=feat, draw=True, panel_dir=str(tmp_path / 'panels'))
    comp = res['predictions'][0]
    assert not np.array_equal(comp['fused'], plain)
    # IR | VIS | VFN | CLDyN, 4-pixel gaps, BGR, also written
    assert res['visualization'][0].shape == (H, 4 * W + 3 * 4, 3)
    assert np.array_equal(comp['panel'], res['visualization'][0])
    assert np.array_equal(cv2.imread(str(tmp_path / 'panels' / 'a.png')), comp['panel'])
    tile_vfn = comp['panel'][20:, 2 * (W + 4):2 * (W + 4) + W]  # below the title
    assert np.array_equal(tile_vfn, plain[20:])


def test_detector_predicts_on_the_customized_fusion(tmp_path, pairs, det):
    assert det.task == 'det' and det.dataset_meta['classes'] == ('person', 'car', 'sign')
    res = det(
        ir=pairs / 'ir',
        vi=pairs / 'vi',
        batch_size=2,
        out_dir=str(tmp_path / 'f'),
        pred_out=str(tmp_path / 'pred' / 'det.json'),
        draw=True,
        score_thr=0.0)
    assert res['written'] == 3
    for r in res['predictions']:
        h, w = (H, W) if r['stem'] != 'c' else (32, 40)
        assert set(r) == {'stem', 'fused', 'vfn', 'bboxes', 'scores', 'labels', 'panel'}
        assert r['fused'].shape == r['vfn'].shape == (h, w, 3)
        assert r['fused'].dtype == r['vfn'].dtype == np.uint8
        n = len(r['scores'])
        assert r['bboxes'].shape == (n, 4) and r['bboxes'].dtype == np.float32
        assert r['scores'].dtype == np.float32 and r['labels'].dtype == np.int64
        assert not np.array_equal(r['fused'], r['vfn'])  # RSC compensates
        assert np.array_equal(cv2.imread(str(tmp_path / 'f' / f"{r['stem']}.png")), r['fused'])
        assert r['panel'].shape == (h, 4 * w + 12, 3)
    records = json.loads((tmp_path / 'pred' / 'det.json').read_text())
    assert len(records) == sum(len(r['scores']) for r in res['predictions']) > 0
    assert set(records[0]) == {'image_id', 'bbox', 'score', 'category_id'}
    assert {r['image_id'] for r in records} <= {'a', 'b', 'c'}
    assert all(len(r['bbox']) == 4 and r['bbox'][2] >= 0 and r['bbox'][3] >= 0 for r in records)


def test_batched_task_predictions_equal_unbatched(pairs, det):
    items = [(str(pairs / 'ir' / s), str(pairs / 'vi' / s)) for s in ('a.png', 'b.png')]
    one = det(items, batch_size=1)['predictions']
    two = det(items, batch_size=2)['predictions']
    for a, b in zip(one, two):
        assert np.abs(a['fused'].astype(int) - b['fused'].astype(int)).max() <= 1
        assert a['scores'].shape == b['scores'].shape
        np.testing.assert_allclose(a['scores'], b['scores'], atol=1e-4)
        np.testing.assert_allclose(a['bboxes'], b['bboxes'], atol=1e-2)


def test_segmentor_writes_mask_pngs(tmp_path, pairs):
    torch.manual_seed(0)
    opts = {'model.mode': 'cldyn', 'test_dataloader.dataset.pipeline.1.scale': (40, 32)}
    cfg = Config.fromfile(SEG_CONFIG)
    cfg.merge_from_dict(opts)
    ckpt = _save(MODELS.build(cfg.model), tmp_path / 'seg.pth')
    inf = FusionInferencer(SEG_CONFIG, ckpt, cfg_options=opts, show_progress=False)
    res = inf((str(pairs / 'ir' / 'c.png'), str(pairs / 'vi' / 'c.png')),
              pred_out=str(tmp_path / 'masks'))
    r = res['predictions'][0]
    assert r['sem_seg'].shape == (32, 40) and r['sem_seg'].dtype == np.int64
    mask = cv2.imread(str(tmp_path / 'masks' / 'c.png'), cv2.IMREAD_UNCHANGED)
    assert mask.dtype == np.uint8 and np.array_equal(mask, r['sem_seg'])
    with pytest.raises(ValueError, match='PNG files in a folder'):
        inf((str(pairs / 'ir' / 'c.png'), str(pairs / 'vi' / 'c.png')),
            pred_out=str(tmp_path / 'x.json'))


def test_sod_model_gives_saliency_maps(tmp_path):
    torch.manual_seed(0)
    opts = {'model.mode': 'cldyn', 'test_dataloader.dataset.pipeline.1.scale': (W, H)}
    cfg = Config.fromfile(SOD_CONFIG)
    cfg.merge_from_dict(opts)
    ckpt = _save(MODELS.build(cfg.model), tmp_path / 'sod.pth')
    inf = FusionInferencer(SOD_CONFIG, ckpt, cfg_options=opts, show_progress=False)
    ir, vi = _scene(5)
    r = inf((ir, vi), pred_out=str(tmp_path / 'sal'))['predictions'][0]
    assert inf.task == 'sod' and r['stem'] == 'pair_0000'
    assert r['saliency'].shape == r['sem_seg'].shape == (H, W)
    assert r['saliency'].dtype == np.float32 and 0 <= r['saliency'].min() <= 1
    assert set(np.unique(r['sem_seg'])) <= {0, 1}
    png = cv2.imread(str(tmp_path / 'sal' / 'pair_0000.png'), cv2.IMREAD_UNCHANGED)
    assert png.dtype == np.uint8 and png.shape == (H, W)
    assert np.abs(png.astype(int) - np.round(r['saliency'] * 255)).max() <= 1


def test_bad_inputs_name_the_file_or_setting(tmp_path, pairs, ckpts, vfn):
    ir, vi = pairs / 'ir', pairs / 'vi'
    with pytest.raises(FileNotFoundError, match='image folder not found: .*nope'):
        vfn(ir=str(tmp_path / 'nope'), vi=str(vi))
    with pytest.raises(FileNotFoundError, match=r'infrared image not found: .*x\.png'):
        vfn((str(ir / 'x.png'), str(vi / 'a.png')))
    (tmp_path / 'ir').mkdir()
    (tmp_path / 'vi').mkdir()
    a_ir, a_vi = _scene(0)
    cv2.imwrite(str(tmp_path / 'ir' / 'a.png'), a_ir)
    cv2.imwrite(str(tmp_path / 'vi' / 'a.png'), a_vi)
    cv2.imwrite(str(tmp_path / 'ir' / 'lonely.png'), a_ir)
    with pytest.raises(ValueError, match=r'1 image\(s\) in .*ir have no partner.*lonely'):
        vfn(ir=str(tmp_path / 'ir'), vi=str(tmp_path / 'vi'))
    cv2.imwrite(str(tmp_path / 'vi' / 'lonely.png'), a_vi[:20])
    with pytest.raises(
            ValueError, match=r'differ in size: .*lonely\.png is 64x48, .*lonely\.png'
            ' is 64x20'):
        vfn(ir=str(tmp_path / 'ir'), vi=str(tmp_path / 'vi'))
    with pytest.raises(ValueError, match='differ in size: the infrared array of pair'):
        vfn((a_ir, a_vi[:20]))
    (tmp_path / 'vi' / 'lonely.png').write_bytes(b'\x89PNG\r\n\x1a\n' + b'\0' * 40)
    with pytest.raises(OSError, match=r'cannot decode image file .*: .*lonely\.png'):
        vfn(ir=str(tmp_path / 'ir'), vi=str(tmp_path / 'vi'))
    with pytest.raises(ValueError, match=r'visible array of input 0: expected an \(H, W\)'):
        vfn((a_ir, np.zeros((4, 4, 5), np.uint8)))
    with pytest.raises(TypeError, match='input 0: expected a pair'):
        vfn([('only one', )])
    with pytest.raises(FileNotFoundError, match=r'config file not found: .*missing\.py'):
        FusionInferencer('configs/missing.py')
    with pytest.raises(UnknownModelError, match="'nonexistent_model' is not in the model index"):
        FusionInferencer('nonexistent_model')
    with pytest.raises(
            RuntimeError,
            match=r'det\.pth does not fit the model VFNFuser of .*'
            r'vfn_1xb8-200_demo\.py: .*unexpected key'):
        FusionInferencer(VFN_CONFIG, ckpts['det'])
    with pytest.raises(ValueError, match=r'not_a_ckpt\.pth is not a PyTorch checkpoint'):
        FusionInferencer(VFN_CONFIG, ckpts['text'])
    with pytest.raises(FileNotFoundError, match=r'checkpoint not found: .*gone\.pth'):
        FusionInferencer(VFN_CONFIG, str(tmp_path / 'gone.pth'))
    with pytest.raises(ValueError, match='pred_out: .*vfn_1xb8-200_demo.py has no task network'):
        vfn((str(ir / 'a.png'), str(vi / 'a.png')), pred_out=str(tmp_path / 'p.json'))
    with pytest.raises(ValueError, match='does not use a task feature'):
        vfn((str(ir / 'a.png'), str(vi / 'a.png')), task_feat=torch.zeros(1, 4, 2, 2))
    with pytest.raises(ValueError, match="model.mode='vis'"):
        FusionInferencer(DET_CONFIG, cfg_options={'model.mode': 'vis'})
    with pytest.raises(ValueError, match='unknown argument'):
        vfn((str(ir / 'a.png'), str(vi / 'a.png')), colour='red')
    with pytest.raises(ValueError, match="two pairs share the stem 'a'"):
        vfn([(str(ir / 'a.png'), str(vi / 'a.png')),
             (str(tmp_path / 'ir' / 'a.png'), str(tmp_path / 'vi' / 'a.png'))],
            out_dir=str(tmp_path / 'o'))


def test_task_model_refuses_a_fixed_task_feature(pairs, det):
    with pytest.raises(ValueError, match='computes the task feature of each image itself'):
        det((str(pairs / 'ir' / 'a.png'), str(pairs / 'vi' / 'a.png')),
            task_feat=torch.zeros(1, 4, 2, 2))
