"""Task pipelines: IR, VIS, boxes and masks stay aligned through mmdet/mmseg geometric
transforms; VisibleOnly leaves the infrared channel bit-identical; the paired packers."""
import cv2
import numpy as np
import pytest
from mmengine.dataset import Compose
from task_data_helpers import IR_LEVELS, VIS_COLOURS, make_seg_layout, make_yolo_layout

from cldyn_mm.datasets import MSRSDetDataset, MSRSSegDataset
from cldyn_mm.datasets.transforms import PackPairedDetInputs, PackPairedSegInputs, VisibleOnly

K3 = np.ones((3, 3), np.uint8)
K9 = np.ones((9, 9), np.uint8)
BACKGROUND = (12, 12, 12, 10)  # B, G, R, IR of the helpers' background


def _levels(obj: int):
    """(B, G, R, IR) of object ``obj`` of the helpers' pairs."""
    return tuple(VIS_COLOURS[obj]) + (IR_LEVELS[obj], )


def _assert_objects_match_channels(img: np.ndarray, masks, what: str, border: int = 1) -> None:
    """In every channel, each object's region (its mask) is where the pixel is above halfway
    between background and object level, up to a ``border``-pixel band (bilinear
    interpolation; 0: exact), and the image far from all objects is plain background."""
    near_any = np.zeros(img.shape[1:], bool)
    for obj, mask in masks:
        mask = mask.astype(np.uint8)
        if border:
            inner = cv2.erode(mask, K3, borderType=cv2.BORDER_REPLICATE).astype(bool)
            outer = cv2.dilate(mask, K3).astype(bool)
        else:
            inner = outer = mask.astype(bool)
        window = cv2.dilate(mask, K9).astype(bool)
        near_any |= window
        for c, level in enumerate(_levels(obj)):
            bright = img[c] > (BACKGROUND[c] + level) / 2
            assert bright[inner].all(), f'{what}: channel {c} dark inside object {obj}'
            assert not (bright & window & ~outer).any(), \
                f'{what}: channel {c} bright outside object {obj}'
    for c in range(4):
        assert np.abs(img[c][~near_any] - BACKGROUND[c]).max(initial=0) < 1, \
            f'{what}: channel {c} not background away from the objects'


@pytest.fixture(scope='module')
def yolo_root(tmp_path_factory):
    return make_yolo_layout(tmp_path_factory.mktemp('yolo'), stems=('a', ))


@pytest.fixture(scope='module')
def seg_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('seg')
    make_seg_layout(root, 'ir', 'vi', 'Segmentation_labels', stems=('s0', ))
    return root


@pytest.mark.parametrize('seed', range(5))
def test_detection_geometry_keeps_ir_vis_and_boxes_aligned(yolo_root, seed):
    pipeline = [
        dict(type='LoadIRVisPair'),
        dict(type='mmdet.LoadAnnotations', with_bbox=True),
        dict(
            type='RandomResize',
            scale=(96, 72),
            ratio_range=(0.7, 1.4),
            keep_ratio=True,
            resize_type='mmdet.Resize'),
        dict(type='mmdet.RandomFlip', prob=[0.4, 0.4], direction=['horizontal', 'vertical']),
        dict(type='mmdet.RandomCrop', crop_size=(56, 44)),
        dict(type='RandomRot90', prob=0.5),
        dict(type='PackPairedDetInputs'),
    ]
    ds = MSRSDetDataset(data_root=str(yolo_root), pipeline=pipeline)
    np.random.seed(seed)
    out = ds[0]
    img = out['inputs'].numpy()
    gt = out['data_samples'].gt_instances
    assert len(gt) >= 1
    h, w = img.shape[1:]
    ys, xs = np.mgrid[0:h, 0:w] + 0.5
    masks = []
    for (x1, y1, x2, y2), label in zip(gt.bboxes.tensor.numpy(), gt.labels.numpy()):
        # object k of the helpers has class k: the box's label says which object it frames
        masks.append((int(label), (xs >= x1) & (xs < x2) & (ys >= y1) & (ys < y2)))
    _assert_objects_match_channels(img, masks, f'seed {seed}')


@pytest.mark.parametrize('seed,interpolation', [(0, 'bilinear'), (1, 'bilinear'), (2, 'bilinear'),
                                                (3, 'nearest'), (4, 'nearest')])
def test_segmentation_geometry_keeps_ir_vis_and_mask_aligned(seg_root, seed, interpolation):
    pipeline = [
        dict(type='LoadIRVisPair'),
        dict(type='LoadPairedSegAnnotations'),
        dict(
            type='RandomResize',
            scale=(96, 72),
            ratio_range=(0.7, 1.4),
            keep_ratio=True,
            interpolation=interpolation),
        dict(type='mmseg.RandomCrop', crop_size=(40, 48)),
        dict(type='RandomFlip', prob=[0.4, 0.4], direction=['horizontal', 'vertical']),
        dict(type='RandomRot90', prob=0.5),
        dict(type='PackPairedSegInputs'),
    ]
    ds = MSRSSegDataset(data_root=str(seg_root), pipeline=pipeline)
    np.random.seed(seed)
    out = ds[0]
    img = out['inputs'].numpy()
    label = out['data_samples'].gt_sem_seg.data[0].numpy()
    assert label.shape == img.shape[1:]
    # label k + 1 marks object k of the helpers
    masks = [(k, label == k + 1) for k in (0, 1) if (label == k + 1).any()]
    assert masks
    # nearest-neighbour resizing samples image and label identically: exact agreement
    _assert_objects_match_channels(
        img, masks, f'seed {seed}', border=int(interpolation != 'nearest'))


def _random_pair_results(seed=0, h=24, w=32):
    rng = np.random.default_rng(seed)
    img = rng.uniform(0, 255, (h, w, 4)).astype(np.float32)
    return dict(img=img, img_shape=(h, w), ori_shape=(h, w))


@pytest.mark.parametrize('photometric',
                         ['mmdet.PhotoMetricDistortion', 'mmseg.PhotoMetricDistortion'])
def test_visible_only_leaves_ir_bit_identical(photometric):
    t = VisibleOnly(transforms=[dict(type=photometric)])
    changed = False
    for seed in range(6):
        np.random.seed(seed)
        results = _random_pair_results(seed)
        before = results['img'].copy()
        out = t(results)
        img = out['img']
        assert img.shape == before.shape and img.dtype == np.float32
        assert img[..., 3].tobytes() == before[..., 3].tobytes()
        assert img[..., :3].min() >= 0 and img[..., :3].max() <= 255
        changed |= not np.array_equal(img[..., :3], before[..., :3])
    assert changed, 'the photometric transform never changed the visible channels'


def test_visible_only_in_a_dataset_pipeline(seg_root):
    pipeline = [
        dict(type='LoadIRVisPair'),
        dict(
            type='VisibleOnly',
            transforms=[dict(type='mmseg.PhotoMetricDistortion', brightness_delta=60)]),
        dict(type='PackPairedSegInputs')
    ]
    ds = MSRSSegDataset(data_root=str(seg_root), pipeline=pipeline)
    ir = cv2.imread(str(seg_root / 'ir' / 's0.png'), cv2.IMREAD_GRAYSCALE)
    for seed in range(3):
        np.random.seed(seed)
        x = ds[0]['inputs'].numpy()
        np.testing.assert_array_equal(x[3], ir.astype(np.float32))


def test_visible_only_rejects_geometric_transforms_and_non_pairs():
    t = VisibleOnly(transforms=[dict(type='mmdet.Resize', scale=(16, 12))])
    with pytest.raises(ValueError, match='only photometric'):
        t(_random_pair_results())
    t = VisibleOnly(transforms=dict(type='mmdet.PhotoMetricDistortion'))
    with pytest.raises(ValueError, match=r'\(H, W, 4\)'):
        t(dict(img=np.zeros((8, 8, 3), np.float32)))
    with pytest.raises(ValueError, match='at least one'):
        VisibleOnly(transforms=[])


def test_packers_keep_task_samples_and_pair_meta():
    r = _random_pair_results()
    r.update(
        stem='x',
        ir_path='ir/x.png',
        vi_path='vi/x.png',
        img_path='vi/x.png',
        gt_seg_map=np.zeros((24, 32), np.uint8))
    seg = PackPairedSegInputs()(dict(r))
    assert seg['inputs'].shape == (4, 24, 32)
    assert type(seg['data_samples']).__name__ == 'SegDataSample'
    assert seg['data_samples'].metainfo['ir_path'] == 'ir/x.png'
    assert seg['data_samples'].gt_sem_seg.data.shape == (1, 24, 32)
    det = PackPairedDetInputs()(dict(r))
    assert type(det['data_samples']).__name__ == 'DetDataSample'
    assert det['data_samples'].metainfo['stem'] == 'x'
    with pytest.raises(ValueError, match='LoadIRVisPair'):
        PackPairedDetInputs()(dict(img=np.zeros((4, 4, 3), np.float32)))
    with pytest.raises(ValueError, match='LoadIRVisPair'):
        PackPairedSegInputs()(dict(img=np.zeros((4, 4, 3), np.float32)))


def test_compose_builds_from_cldyn_scope():
    pipe = Compose([
        dict(type='VisibleOnly', transforms=[dict(type='mmdet.PhotoMetricDistortion')]),
        dict(type='PackPairedDetInputs')
    ])
    out = pipe(_random_pair_results())
    assert out['inputs'].shape[0] == 4
