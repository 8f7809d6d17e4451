"""Task adapters (mmdet detector, mmseg segmentor, SOD as a binary mmseg segmentor): built from
configs, frozen and in eval mode, task features from named layers, losses differentiable with
respect to the fused image, predictions as mmdet / mmseg data samples at the original size.

Small on purpose (images of 128 x 96, batches of 2, random-init networks): about 30-40 s on two
CPU cores.
"""
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.model import BaseModule

import cldyn_mm.evaluation.metrics.sod_metric  # noqa: F401  (registers SODMetric)
from cldyn_mm.models.data_preprocessors import PairedDataPreprocessor
from cldyn_mm.models.task_adapters import (BaseTaskAdapter, MMDetTaskAdapter, MMSegTaskAdapter,
                                           SaliencyIoULoss, SODTaskAdapter)
from cldyn_mm.registry import DATASETS, METRICS, MODELS
from cldyn_mm.testing.demo_data import generate_demo_dataset

REPO = Path(__file__).resolve().parents[2]
CFG_DIR = REPO / 'configs' / '_base_' / 'task_models'
W, H = 128, 96  # demo image size

CONFIGS = {
    'det': ('rtmdet_tiny_adapter.py', 'det_task_adapter'),
    'seg': ('segformer_b0_adapter.py', 'seg_task_adapter'),
    'sod': ('sod_adapter.py', 'sod_task_adapter'),
}
# default task feature at 96 x 128: (channels, H / 32, W / 32)
DEFAULT_FEATURE = {'det': (96, 3, 4), 'seg': (256, 3, 4), 'sod': (512, 3, 4)}
CLASSES = {'det': MMDetTaskAdapter, 'seg': MMSegTaskAdapter, 'sod': SODTaskAdapter}


def adapter_cfg(task: str, **kwargs) -> dict:
    fname, key = CONFIGS[task]
    cfg = Config.fromfile(str(CFG_DIR / fname))[key]
    if task == 'det':  # a random-init RTMDet scores below mmdet's default threshold and
        # predicts degenerate boxes: keep them all (STACK.md)
        cfg.model_overrides.test_cfg = dict(score_thr=0.0, min_bbox_size=-1, max_per_img=20)
    cfg.update(kwargs)
    return cfg


@pytest.fixture(scope='module')
def adapters():
    torch.manual_seed(0)
    return {task: MODELS.build(adapter_cfg(task)) for task in CONFIGS}


@pytest.fixture(scope='module')
def demo_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('task_adapter_demo')
    generate_demo_dataset(str(root), num_train=2, num_val=2, size=(W, H), seed=3)
    return root


def _pipeline(task: str, test: bool, scale=None) -> list:
    if task == 'det':
        load = dict(type='mmdet.LoadAnnotations', with_bbox=True)
        pack = dict(type='PackPairedDetInputs')
        resize = dict(type='mmdet.Resize', scale=scale, keep_ratio=True)
    else:
        load = dict(type='LoadPairedSegAnnotations')
        pack = dict(type='PackPairedSegInputs')
        resize = dict(type='Resize', scale=scale, keep_ratio=True)
    steps = [dict(type='LoadIRVisPair')]
    if test:  # as the test pipelines: labels loaded after Resize (original size)
        steps += [resize, load]
    else:
        steps += [load] + ([resize] if scale else [])
    return steps + [pack]


def demo_batch(root, task: str, test: bool = False, scale=None):
    """Two demo pairs through a task pipeline and the fusion preprocessor: an average fusion
    (a leaf tensor requiring gradient) and the data samples."""
    kwargs = dict(
        DemoDetDataset=dict(ann_file='annotations/train.json'),
        DemoSegDataset=dict(ann_file='splits/train.txt'),
        DemoSODDataset=dict(ann_file='splits/train.txt'))
    name = {'det': 'DemoDetDataset', 'seg': 'DemoSegDataset', 'sod': 'DemoSODDataset'}[task]
    ds = DATASETS.build(
        dict(type=name, data_root=str(root), pipeline=_pipeline(task, test, scale), **kwargs[name]))
    data = PairedDataPreprocessor()(pseudo_collate([ds[0], ds[1]]))
    vis, ir = data['inputs']['vis'], data['inputs']['ir']
    fused = (0.5 * vis + 0.5 * ir).detach().requires_grad_(True)
    return fused, data['data_samples']


# ---------------------------------------------------------------- building / freezing
@pytest.mark.parametrize('task', list(CONFIGS))
def test_built_from_config_frozen_and_eval(adapters, task):
    adapter = adapters[task]
    assert type(adapter) is CLASSES[task] and isinstance(adapter, BaseTaskAdapter)
    assert all(not p.requires_grad for p in adapter.parameters())
    assert not any(m.training for m in adapter.modules())
    assert not any(isinstance(m, nn.SyncBatchNorm) for m in adapter.modules())
    parent = nn.ModuleDict(dict(adapter=adapter, head=nn.Conv2d(3, 3, 1)))
    parent.train()
    assert parent.head.training
    assert not any(m.training for m in adapter.modules())
    adapter.train(True)
    assert not adapter.training and not adapter.model.training


def test_base_config_inheritance_with_package_prefix(tmp_path):
    """An adapter whose model is `{{_base_.model}}` of a config inheriting mmdet's own."""
    cfg_file = tmp_path / 'rtmdet_inherit.py'
    cfg_file.write_text(
        "_base_ = ['mmdet::rtmdet/rtmdet_tiny_8xb32-300e_coco.py']\n"
        "default_scope = 'cldyn_mm'\n"
        "det_task_adapter = dict(type='MMDetTaskAdapter', model={{_base_.model}},\n"
        "                        model_overrides=dict(bbox_head=dict(num_classes=3)))\n")
    cfg = Config.fromfile(str(cfg_file))
    assert cfg.det_task_adapter.model.get('_scope_') == 'mmdet'
    adapter = MODELS.build(cfg.det_task_adapter)
    assert adapter.model.bbox_head.num_classes == 3
    assert adapter.task_feature(torch.rand(2, 3, 64, 64)).shape == (2, 96, 2, 2)
    with pytest.raises(ValueError, match='exactly one'):
        MMDetTaskAdapter()


def test_task_model_configs_compose_with_a_dataset_config(tmp_path):
    """The three adapter configs define one key each, so a closed-loop / wrapper config can
    inherit all of them and a dataset config together."""
    bases = [str(REPO / 'configs/_base_/datasets/demo_det.py')]
    bases += [str(CFG_DIR / fname) for fname, _ in CONFIGS.values()]
    cfg_file = tmp_path / 'all_tasks.py'
    cfg_file.write_text(f'_base_ = {bases!r}\n')
    cfg = Config.fromfile(str(cfg_file))
    assert {key for _, key in CONFIGS.values()} <= set(cfg.keys())
    assert 'det_train_dataloader' in cfg and 'model' not in cfg


# ---------------------------------------------------------------- normalisation / geometry
def _bgr_images(n, h, w):
    g = torch.Generator().manual_seed(0)
    return [torch.randint(0, 256, (3, h, w), generator=g).float() for _ in range(n)]


@pytest.mark.parametrize('task', list(CONFIGS))
def test_preprocess_matches_the_task_data_preprocessor(adapters, task):
    """Differentiable normalisation of RGB [0, 1] == the network's own data preprocessor on
    the BGR 0-255 image (channel order, mean/std, padding, pad metainfo)."""
    adapter = adapters[task]
    h, w = (100, 120) if task == 'sod' else (96, 128)
    imgs = _bgr_images(2, h, w)
    sample_cls = type(adapter._new_sample())
    samples = [sample_cls(metainfo=dict(img_shape=(h, w), ori_shape=(h, w))) for _ in imgs]
    out = adapter.data_preprocessor(dict(inputs=imgs, data_samples=samples), False)
    ref, samples = out['inputs'], out['data_samples']
    fused = torch.stack([im.flip(0) for im in imgs]) / 255.
    ours = adapter.preprocess(fused)
    assert ours.shape == ref.shape
    torch.testing.assert_close(ours, ref, atol=1e-4, rtol=1e-5)
    expected = {'det': 'bgr', 'seg': 'rgb', 'sod': 'rgb'}[task]
    assert adapter.channel_order == expected
    if task == 'sod':  # mmseg's stack_batch padding metainfo
        ours_samples = adapter.prepare_samples(None, fused, tuple(ours.shape[-2:]), False)
        assert tuple(ours.shape[-2:]) == (128, 128)
        for a, b in zip(ours_samples, samples):
            assert list(a.img_padding_size) == list(b.img_padding_size) == [0, 8, 0, 28]
            assert tuple(a.pad_shape) == tuple(b.pad_shape) == (128, 128)


def test_yolox_padding_metainfo_and_loss():
    """YOLOX: no normalisation, pad to 32 (as its DetDataPreprocessor), no batch resize."""
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData
    adapter = MMDetTaskAdapter(
        config='mmdet::yolox/yolox_tiny_8xb8-300e_coco.py',
        model_overrides=dict(bbox_head=dict(num_classes=3)))
    assert adapter.pad_size_divisor == 32
    imgs = _bgr_images(2, 70, 90)
    samples = [DetDataSample(metainfo=dict(img_shape=(70, 90))) for _ in imgs]
    ref = adapter.data_preprocessor(dict(inputs=imgs, data_samples=samples), False)
    fused = (torch.stack([im.flip(0) for im in imgs]) / 255.).requires_grad_(True)
    torch.testing.assert_close(adapter.preprocess(fused), ref['inputs'], atol=1e-4, rtol=0)
    ours = adapter.prepare_samples([DetDataSample(metainfo=dict(img_shape=(70, 90))) for _ in imgs],
                                   fused, (96, 96), False)
    for a, b in zip(ours, ref['data_samples']):
        assert a.batch_input_shape == b.batch_input_shape == (96, 96)
        assert tuple(a.pad_shape) == tuple(b.pad_shape) == (96, 96)
    assert adapter.task_feature(fused).shape == (2, 96, 3, 3)
    adapter.model.init_weights()  # YOLOX's own init (a default-init YOLOX on raw pixels
    # gives NaN box gradients), then the adapter is frozen as before
    assert all(not p.requires_grad for p in adapter.parameters())
    for s in samples:
        s.gt_instances = InstanceData(
            bboxes=torch.tensor([[5., 8., 40., 50.]]), labels=torch.tensor([2]))
    loss = adapter.total_loss(adapter.loss(fused, samples))
    loss.backward()
    assert torch.isfinite(loss) and fused.grad.abs().sum() > 0


# ---------------------------------------------------------------- task features
@pytest.mark.parametrize('task', list(CONFIGS))
def test_default_task_feature(adapters, demo_root, task):
    fused, _ = demo_batch(demo_root, task)
    feat = adapters[task].task_feature(fused)
    assert feat.shape == (2, ) + DEFAULT_FEATURE[task]
    assert not feat.requires_grad and torch.isfinite(feat).all()
    assert fused.grad is None


@contextmanager
def feature_layer(adapter, layer, index=-1, call=0):
    old = adapter.feature_layer, adapter.feature_index, adapter.feature_call
    adapter.set_feature_layer(layer, index, call)
    try:
        yield adapter
    finally:
        adapter.set_feature_layer(*old)


@pytest.mark.parametrize(
    'task,layer,index,shape',
    [
        ('det', 'neck', 0, (96, 12, 16)),  # first neck level (stride 8)
        ('det', 'backbone.stage4', -1, (384, 3, 4)),
        ('det', 'bbox_head.rtm_cls.0', -1, (3, 12, 16)),  # a head layer: full forward
        ('det', 'bbox_head', (0, -1), (3, 3, 4)),  # called as head.forward(x); cls scores, last
        ('seg', 'decode_head.fusion_conv', -1, (256, 24, 32)),
        ('seg', 'backbone', 1, (64, 12, 16)),  # second MiT stage (stride 8)
        ('sod', 'backbone.layer3', -1, (256, 6, 8)),
        ('sod', 'neck', 0, (64, 24, 32)),
    ])
def test_named_layer_feature(adapters, task, layer, index, shape):
    with feature_layer(adapters[task], layer, index) as adapter:
        feat = adapter.task_feature(torch.rand(2, 3, H, W))
    assert feat.shape == (2, ) + shape


def test_named_layer_equals_default_and_feature_call(adapters):
    x = torch.rand(2, 3, H, W)
    det = adapters['det']
    default = det.task_feature(x)
    with feature_layer(det, 'neck.out_convs.2'):
        torch.testing.assert_close(det.task_feature(x), default)
    # nn.Upsample of the PAFPN runs twice (top-down path): pick the call
    shapes = []
    for call in (0, 1, -1):
        with feature_layer(det, 'neck.upsample', call=call):
            shapes.append(tuple(det.task_feature(x).shape[-2:]))
    assert shapes == [(6, 8), (12, 16), (12, 16)]
    with feature_layer(det, 'neck.upsample', call=2):
        with pytest.raises(ValueError, match='ran 2 time'):
            det.task_feature(x)
    assert det.feature_layer == 'neck.out_convs.2' and 'forward' not in vars(det.feature_module)


@pytest.mark.parametrize('task,wrong,suggestion', [
    ('det', 'neck.out_conv.2', 'neck.out_convs.2'),
    ('seg', 'backbone.layer.3', 'backbone.layers.3'),
    ('sod', 'backbone.layer5', 'backbone.layer4'),
])
def test_wrong_layer_name_is_a_clear_error(task, wrong, suggestion):
    with pytest.raises(ValueError) as err:
        MODELS.build(adapter_cfg(task, feature_layer=wrong))
    msg = str(err.value)
    assert repr(wrong) in msg and suggestion in msg and 'layer_names()' in msg


def test_container_and_bad_index_errors(adapters):
    det = adapters['det']
    with pytest.raises(ValueError, match='ModuleList'):
        det.set_feature_layer('neck.out_convs')
    with feature_layer(det, 'bbox_head', 0):  # selects a list of levels, not a tensor
        with pytest.raises(ValueError, match='ends at a tensor'):
            det.task_feature(torch.rand(1, 3, 64, 64))
    names = det.layer_names()
    assert 'neck.out_convs.2' in names and 'backbone.stage4' in names


# ---------------------------------------------------------------- losses
@pytest.mark.parametrize('task', list(CONFIGS))
def test_loss_is_differentiable_wrt_fused_image(adapters, demo_root, task):
    adapter = adapters[task]
    fused, samples = demo_batch(demo_root, task)
    gt_before = [
        s.gt_sem_seg.shape if task != 'det' else type(s.gt_instances.bboxes) for s in samples
    ]
    losses = adapter.loss(fused, samples)
    expected = {
        'det': {'loss_cls', 'loss_bbox'},
        'seg': {'decode.loss_ce'},
        'sod': {'decode.loss_bce', 'decode.loss_iou'}
    }[task]
    assert expected <= set(losses)
    total = adapter.total_loss(losses)
    assert total.dim() == 0 and torch.isfinite(total)
    total.backward()
    assert fused.grad is not None and torch.isfinite(fused.grad).all()
    assert fused.grad.abs().sum() > 0
    assert all(p.grad is None for p in adapter.parameters())
    # the caller's samples are unchanged (the loss pads / converts copies)
    assert gt_before == [
        s.gt_sem_seg.shape if task != 'det' else type(s.gt_instances.bboxes) for s in samples
    ]


@pytest.mark.parametrize('task', list(CONFIGS))
def test_loss_and_feature_from_one_pass_equal_the_separate_calls(adapters, demo_root, task):
    """The closed loop takes L0 and T of the plain fusion from one pass of the network."""
    adapter = adapters[task]
    fused, samples = demo_batch(demo_root, task)
    fused = fused.detach()
    losses, feat = adapter.loss_and_feature(fused, samples)
    assert adapter._shared_feature_pass is True  # checked against task_feature once
    reference = adapter.total_loss(adapter.loss(fused, samples))
    torch.testing.assert_close(adapter.total_loss(losses), reference, rtol=1e-6, atol=0)
    torch.testing.assert_close(feat, adapter.task_feature(fused), rtol=1e-6, atol=1e-7)
    _, feat2 = adapter.loss_and_feature(fused, samples)  # the checked path
    torch.testing.assert_close(feat2, feat, rtol=0, atol=0)


def test_loss_and_feature_falls_back_when_the_loss_pass_differs(demo_root, mmengine_log):
    """A loss pass that does not see the inference pass's feature (here: a loss computed
    on other images) is detected once; the feature then comes from a pass of its own."""
    torch.manual_seed(0)
    adapter = MODELS.build(adapter_cfg('seg'))
    fused, samples = demo_batch(demo_root, 'seg')
    fused = fused.detach()
    original = adapter.loss
    adapter.loss = lambda img, s: original((img + 0.25).clamp(0, 1), s)
    _, feat = adapter.loss_and_feature(fused, samples)
    assert adapter._shared_feature_pass is False
    assert any('computes it with a pass of its own' in m for m in mmengine_log)
    torch.testing.assert_close(feat, adapter.task_feature(fused))
    _, feat = adapter.loss_and_feature(fused, samples)
    torch.testing.assert_close(feat, adapter.task_feature(fused))


@pytest.mark.parametrize('task', ['seg', 'sod'])
def test_loss_on_random_fusion_and_mixed_sizes(adapters, task):
    """torch.rand fused batch; samples of two sizes inside one padded batch."""
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    fused = torch.rand(2, 3, 80, 96, requires_grad=True)
    samples = []
    for h, w in ((80, 96), (64, 72)):
        s = SegDataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h, w)))
        s.gt_sem_seg = PixelData(data=torch.randint(0, 2, (1, h, w)))
        samples.append(s)
    total = adapters[task].total_loss(adapters[task].loss(fused, samples))
    total.backward()
    assert torch.isfinite(total) and fused.grad.abs().sum() > 0
    bad = SegDataSample(metainfo=dict(img_shape=(80, 96)))
    bad.gt_sem_seg = PixelData(data=torch.zeros(1, 40, 48, dtype=torch.long))
    with pytest.raises(ValueError, match='image frame'):
        adapters[task].loss(fused.detach()[:1], [bad])


def test_total_loss_rule(adapters):
    """The task network's own parse_losses: 'loss' keys summed (means, lists summed), other
    logged values left out; no loss term at all is an error."""
    losses = dict(
        loss_a=torch.tensor(1.),
        loss_b=[torch.tensor(2.), torch.tensor([3., 5.])],
        acc_seg=torch.tensor(99.))
    assert adapters['det'].total_loss(losses).item() == 7.
    with pytest.raises(ValueError, match='no loss terms'):
        adapters['seg'].total_loss(dict(acc=torch.tensor(1.)))


def test_saliency_iou_loss_hand_computed():
    loss = SaliencyIoULoss()
    logits = torch.zeros(1, 1, 2, 2)  # p = 0.5 everywhere
    label = torch.tensor([[[1, 0], [0, 0]]])
    # inter = 0.5, union = (0.5 + 1 - 0.5) + 3 * 0.5 = 2.5 -> 1 - 1.5 / 3.5
    assert loss(logits, label).item() == pytest.approx(1 - 1.5 / 3.5)
    ignored = torch.tensor([[[1, 0], [0, 255]]])  # union 2.0 -> 1 - 1.5 / 3
    assert loss(logits, ignored).item() == pytest.approx(0.5)
    perfect = torch.tensor([[[[30., -30.], [-30., -30.]]]])
    assert loss(perfect, label).item() == pytest.approx(0., abs=1e-6)
    two_ch = torch.cat([torch.zeros_like(perfect), perfect], dim=1)  # softmax ch 1 == sigmoid
    assert loss(two_ch, label).item() == pytest.approx(loss(perfect, label).item())
    assert loss.loss_name == 'loss_iou'


# ---------------------------------------------------------------- predictions
def test_det_predict_at_original_scale_and_coco_metric(adapters, demo_root):
    from mmdet.structures import DetDataSample
    fused, samples = demo_batch(demo_root, 'det', test=True, scale=(64, 48))
    assert fused.shape[-2:] == (48, 64)
    out = adapters['det'].predict(fused, samples)
    assert len(out) == 2 and all(isinstance(s, DetDataSample) for s in out)
    unscaled = adapters['det'].predict(fused, None)  # the same images at scale 1
    for s, u in zip(out, unscaled):
        p = s.pred_instances
        assert p.bboxes.shape[1] == 4 and len(p.bboxes) == len(p.scores) == len(p.labels) > 0
        # rescaled to the original 128 x 96 image (scale_factor 0.5 of the Resize)
        assert p.bboxes[:, 2].max() <= W + 1e-3 and p.bboxes[:, 3].max() <= H + 1e-3
        torch.testing.assert_close(p.bboxes, 2 * u.pred_instances.bboxes)
        assert u.ori_shape == u.img_shape == (48, 64)
    metric = METRICS.build(dict(type='mmdet.CocoMetric', metric='bbox'))
    metric.dataset_meta = dict(classes=('person', 'car', 'sign'))
    metric.process({}, [s.to_dict() for s in out])
    assert 'bbox_mAP' in metric.compute_metrics(metric.results)


@pytest.mark.parametrize('task', ['seg', 'sod'])
def test_seg_and_sod_predict_at_original_size(adapters, demo_root, task):
    from mmseg.structures import SegDataSample
    fused, samples = demo_batch(demo_root, task, test=True, scale=(64, 48))
    out = adapters[task].predict(fused, samples)
    assert len(out) == 2 and all(isinstance(s, SegDataSample) for s in out)
    for s in out:
        assert tuple(s.pred_sem_seg.shape) == tuple(s.gt_sem_seg.shape) == (H, W)
    if task == 'seg':
        metric = METRICS.build(dict(type='mmseg.IoUMetric', iou_metrics=['mIoU']))
        metric.dataset_meta = dict(classes=tuple('abcdef'))
        metric.process({}, [s.to_dict() for s in out])
        assert 'mIoU' in metric.compute_metrics(metric.results)
    else:
        for s in out:
            sal = s.pred_saliency.data
            assert sal.shape == (1, H, W) and 0 <= sal.min() and sal.max() <= 1
        metric = METRICS.build(dict(type='SODMetric'))
        metric.process({}, [s.to_dict() for s in out])
        scores = metric.compute_metrics(metric.results)
        assert 0 <= scores['MAE'] <= 1 and 0 <= scores['S'] <= 1


def test_forward_modes(adapters):
    x = torch.rand(1, 3, 64, 64)
    assert adapters['sod'](x).shape == (1, 512, 2, 2)
    assert adapters['sod'](x, mode='predict')[0].pred_saliency.shape == (64, 64)
    with pytest.raises(ValueError, match='invalid mode'):
        adapters['sod'](x, mode='tensor')
    with pytest.raises(ValueError, match='ground truth'):
        adapters['sod'](x, mode='loss')
    with pytest.raises(ValueError, match=r'\(B, 3, H, W\)'):
        adapters['sod'].task_feature(torch.rand(1, 4, 64, 64))


# ---------------------------------------------------------------- checkpoints
class _NotAllowed:
    pass


def test_checkpoint_loading_safe_strict_and_kept_by_parent_init(tmp_path, adapters):
    from mmengine.logging import HistoryBuffer
    src = adapters['seg']
    ckpt = tmp_path / 'segformer.pth'
    history = HistoryBuffer()
    history.update(1.5)
    torch.save(
        dict(
            meta=dict(dataset_meta=dict(classes=tuple('abcdef'))),
            state_dict={
                f'module.{k}': v
                for k, v in src.model.state_dict().items()
            },
            message_hub=dict(log_scalars=dict(loss=history))), ckpt)
    cfg = adapter_cfg('seg', checkpoint=str(ckpt))
    loaded = MODELS.build(cfg)
    assert loaded.dataset_meta['classes'] == tuple('abcdef')
    for (k, a), b in zip(loaded.model.state_dict().items(), src.model.state_dict().values()):
        assert torch.equal(a, b), k
    assert all(not p.requires_grad for p in loaded.parameters())

    # a parent's init_cfg must not overwrite the frozen network: the checkpoint is reloaded
    class Parent(BaseModule):

        def __init__(self, adapter):
            super().__init__(init_cfg=dict(type='Constant', val=0., layer='Conv2d'))
            self.adapter = adapter

    parent = Parent(loaded)
    parent.init_weights()
    w = loaded.model.decode_head.fusion_conv.conv.weight
    assert torch.equal(w, src.model.decode_head.fusion_conv.conv.weight) and w.abs().sum() > 0

    bad = tmp_path / 'pickled_object.pth'
    torch.save(dict(state_dict=src.model.state_dict(), extra=_NotAllowed()), bad)
    with pytest.raises(ValueError, match='not a checkpoint that loads safely'):
        MODELS.build(adapter_cfg('seg', checkpoint=str(bad)))
    with pytest.warns(UserWarning, match='trusted'):
        MODELS.build(adapter_cfg('seg', checkpoint=str(bad), trust_checkpoint=True))

    wrong = adapter_cfg('seg', checkpoint=str(ckpt))
    wrong.model_overrides.decode_head.num_classes = 9
    with pytest.raises(RuntimeError, match='does not fit'):
        MODELS.build(wrong)
    with pytest.raises(FileNotFoundError):
        MODELS.build(adapter_cfg('seg', checkpoint=str(tmp_path / 'missing.pth')))


# ---------------------------------------------------------------- real sample pairs
def test_rtmdet_on_msrs_pairs(adapters, shared_data):
    """MSRS detection pairs (person, bicycle, car) resized to 128 x 96: loss with gradient on
    the fused image and predictions at the original 640 x 480."""
    root = shared_data / 'det' / 'MSRS'
    if not root.is_dir():
        pytest.skip(f'{root} not found')
    adapter = adapters['det']
    batches = {}
    for test in (False, True):
        steps = _pipeline('det', test, scale=(128, 96))
        ds = DATASETS.build(dict(type='MSRSDetDataset', data_root=str(root), pipeline=steps))
        data = PairedDataPreprocessor()(pseudo_collate([ds[0], ds[1]]))
        fused = (0.5 * data['inputs']['vis'] + 0.5 * data['inputs']['ir']).detach()
        batches[test] = fused.requires_grad_(True), data['data_samples']
    fused, samples = batches[False]
    assert fused.shape[-2:] == (96, 128)
    assert sum(len(s.gt_instances) for s in samples) > 0
    total = adapter.total_loss(adapter.loss(fused, samples))
    total.backward()
    assert torch.isfinite(total) and fused.grad.abs().sum() > 0
    fused, samples = batches[True]
    out = adapter.predict(fused, samples)
    assert out[0].ori_shape == (480, 640) and out[0].scale_factor == (0.2, 0.2)
    boxes = out[0].pred_instances.bboxes
    assert len(boxes) > 0 and boxes[:, 2].max() <= 640 + 1e-3 and boxes[:, 3].max() <= 480 + 1e-3
