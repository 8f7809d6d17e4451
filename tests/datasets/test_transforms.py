"""Every geometric transform must move both modalities (and labels) identically."""
import cv2
import numpy as np
import pytest
from mmengine.dataset import Compose

from cldyn_mm.datasets.transforms import RandomRot90


def _pair(tmp_path, w=61, h=47):
    """A pair whose IR is a known function of the visible image: IR = B channel of VIS."""
    rng = np.random.default_rng(0)
    vi = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    vi = cv2.GaussianBlur(vi, (5, 5), 0)
    ir = vi[..., 0].copy()
    (tmp_path / 'ir').mkdir()
    (tmp_path / 'vi').mkdir()
    cv2.imwrite(str(tmp_path / 'ir' / 'p.png'), ir)
    cv2.imwrite(str(tmp_path / 'vi' / 'p.png'), vi)
    return dict(ir_path=str(tmp_path / 'ir' / 'p.png'), vi_path=str(tmp_path / 'vi' / 'p.png'))


@pytest.mark.parametrize('seed', range(6))
def test_geometric_pipeline_keeps_modalities_aligned(tmp_path, seed):
    paths = _pair(tmp_path)
    pipeline = Compose([
        dict(type='LoadIRVisPair'),
        dict(type='RandomResize', scale=(90, 70), ratio_range=(0.5, 1.5), keep_ratio=True),
        dict(type='mmdet.RandomCrop', crop_size=(32, 40)),
        dict(type='RandomFlip', prob=[0.3, 0.3], direction=['horizontal', 'vertical']),
        dict(type='RandomRot90', prob=0.7),
        dict(type='PackFusionInputs'),
    ])
    np.random.seed(seed)
    out = pipeline(dict(paths))
    x = out['inputs'].numpy()
    assert x.shape[0] == 4
    # IR was the blue channel: it must still be, pixel for pixel, after all transforms
    np.testing.assert_allclose(x[3], x[0], atol=1e-3)
    assert out['data_samples'].metainfo['img_shape'] == tuple(x.shape[1:])


def test_rot90_moves_boxes_and_masks_with_the_image():
    img = np.zeros((30, 50, 4), np.float32)
    seg = np.zeros((30, 50), np.uint8)
    img[5:10, 20:35] = 1  # object rows 5..9, cols 20..34
    seg[5:10, 20:35] = 7
    boxes = np.array([[20, 5, 35, 10]], np.float32)
    for k in (1, 2, 3):
        t = RandomRot90(prob=1.0, ks=(k, ))
        r = t(dict(img=img.copy(), gt_seg_map=seg.copy(), gt_bboxes=boxes.copy()))
        assert r['rot90_k'] == k
        ys, xs = np.nonzero(r['img'][..., 0])
        expect = np.array([[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]], np.float32)
        np.testing.assert_allclose(r['gt_bboxes'], expect)
        np.testing.assert_array_equal(r['gt_seg_map'] == 7, r['img'][..., 0] == 1)
        assert r['img_shape'] == r['img'].shape[:2]


def test_rot90_validates_arguments():
    with pytest.raises(ValueError, match='prob'):
        RandomRot90(prob=2)
    with pytest.raises(ValueError, match='ks'):
        RandomRot90(ks=(0, 4))
