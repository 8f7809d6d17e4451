import torch
from mmengine.structures import BaseDataElement

from cldyn_mm.models import PairedDataPreprocessor, VFNFuser
from cldyn_mm.utils.colour import rgb_to_ycbcr


def _raw(h, w, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (4, h, w), generator=g).float()


def test_preprocessor_splits_channels_and_pads():
    pre = PairedDataPreprocessor()
    a, b = _raw(10, 12, 0), _raw(7, 15, 1)
    samples = [
        BaseDataElement(metainfo=dict(img_shape=(10, 12))),
        BaseDataElement(metainfo=dict(img_shape=(7, 15)))
    ]
    out = pre(dict(inputs=[a, b], data_samples=samples))
    x = out['inputs']
    assert x['ir'].shape == (2, 1, 10, 15) and x['vis'].shape == (2, 3, 10, 15)
    assert torch.allclose(x['ir'][0, 0, :10, :12], a[3] / 255)
    assert torch.allclose(x['vis'][1, :, :7, :15], b[[2, 1, 0]] / 255)  # BGR -> RGB
    assert torch.allclose(x['vis_ycbcr'], rgb_to_ycbcr(x['vis']))
    assert out['data_samples'][1].batch_input_shape == (10, 15)


def test_predict_returns_original_sizes_and_matches_single_runs():
    torch.manual_seed(0)
    model = VFNFuser().eval()
    a, b = _raw(10, 15, 0), _raw(7, 15, 1)

    def run(inputs, shapes, ori=None):
        samples = [BaseDataElement(metainfo=dict(img_shape=s, ori_shape=ori or s)) for s in shapes]
        return model.test_step(dict(inputs=inputs, data_samples=samples))

    single = run([a], [(10, 15)])[0]
    assert single.pred_fused.shape == (3, 10, 15)
    assert single.pred_fused_y.shape == (1, 10, 15)
    assert 0 <= single.pred_fused.min() and single.pred_fused.max() <= 1
    batched = run([a, b], [(10, 15), (7, 15)])
    assert batched[1].pred_fused.shape == (3, 7, 15)
    # the unpadded sample is unaffected by batching (a padded one changes slightly, as FRB1
    # pools globally: tools/fuse.py therefore batches equal sizes only)
    assert torch.allclose(batched[0].pred_fused, single.pred_fused, atol=1e-6)
    # a resized input is mapped back to its original size
    resized = run([a], [(10, 15)], ori=(20, 30))[0]
    assert resized.pred_fused.shape == (3, 20, 30)


def test_loss_is_differentiable():
    model = VFNFuser()
    data = model.data_preprocessor(dict(inputs=[_raw(16, 16, 0), _raw(16, 16, 1)]), True)
    losses = model(**data, mode='loss')
    assert set(losses) == {'loss_int', 'loss_grad'}
    sum(losses.values()).backward()
    assert all(p.grad is not None for p in model.parameters())
