"""The batched torch fusion metrics agree with the straightforward numpy/scipy reference on real
IR/VIS pairs, keep their known properties, batch correctly and fail clearly."""
import math

import cv2
import numpy as np
import pytest
import torch
from fusion_eval_helpers import DATASETS, crop, real_pairs, simple_fusions

from cldyn_mm.evaluation.functional import (FUSION_METRIC_FUNCS, FUSION_METRIC_NAMES, FusionSources,
                                            compute_fusion_metrics, fusion_en, fusion_mi,
                                            fusion_qabf, fusion_qcb, fusion_qcv, fusion_ssim,
                                            fusion_vif, load_grey, resolve_metric_names,
                                            rgb_float_to_grey)

RTOL = 1e-4
CHEAP = ('EN', 'SD', 'SF', 'AG', 'MI', 'SCD', 'CC', 'MSE', 'PSNR', 'Qabf', 'SSIM')
COSTLY = ('VIF', 'Qcb', 'Qcv')  # their references (17x17 / 31x31 direct 2-D filters) are slow


def assert_close(name, got, want, rtol=RTOL, atol=1e-9):
    got = float(got)
    assert math.isfinite(want), f'{name}: reference is not finite ({want})'
    assert abs(got - want) <= rtol * abs(want) + atol, \
        f'{name}: torch {got!r} vs reference {want!r} (rel. diff {abs(got - want) / abs(want):.2e})'


def t(x):
    return torch.from_numpy(np.ascontiguousarray(x))


@pytest.mark.parametrize('dataset', DATASETS)
def test_cheap_metrics_match_reference_on_real_pairs(shared_data, reference, dataset):
    """EN..SSIM on two real pairs per dataset (central 320x400 crops; the first pair fused by
    rounded average, the second by maximum)."""
    for (stem, _, _, A, B), kind in zip(real_pairs(shared_data, dataset), ('avg', 'max')):
        A, B = crop(A, 320, 400), crop(B, 320, 400)
        F = simple_fusions(A, B)[kind]
        got = compute_fusion_metrics(t(A), t(B), t(F), CHEAP)
        want = reference.reference_metrics(A, B, F, CHEAP)
        for name in CHEAP:
            assert_close(f'{dataset}/{stem}/{kind}/{name}', got[name], want[name])


@pytest.mark.parametrize('dataset,size,kind',
                         [('TNO', (97, 131), 'avg'), ('RoadScene', (64, 96), 'max'),
                          ('MSRS', (97, 131), 'max'), ('LLVIP', (64, 96), 'avg'),
                          ('M3FD', (81, 112), 'max')])
def test_costly_metrics_match_reference_on_real_crops(shared_data, reference, dataset, size, kind):
    """VIF, Qcb, Qcv on central crops of odd and even size (their references are slow)."""
    stem, _, _, A, B = real_pairs(shared_data, dataset)[1]
    a, b = crop(A, *size), crop(B, *size)
    F = simple_fusions(a, b)[kind]
    got = compute_fusion_metrics(t(a), t(b), t(F), COSTLY)
    want = reference.reference_metrics(a, b, F, COSTLY)
    for name in COSTLY:
        assert_close(f'{dataset}/{stem}/{size}/{kind}/{name}', got[name], want[name])


def test_costly_metrics_match_reference_on_a_whole_image(shared_data, reference):
    """VIF, Qcb and Qcv (with both Qcv exponents) on the smallest whole TNO pair (360x270)."""
    folder = shared_data / 'ivif_pairs' / 'TNO'
    A, B = load_grey(folder / 'ir' / '20.png'), load_grey(folder / 'vi' / '20.png')
    F = np.maximum(A, B)
    got = compute_fusion_metrics(t(A), t(B), t(F), COSTLY)
    want = reference.reference_metrics(A, B, F, COSTLY)
    for name in COSTLY:
        assert_close(f'TNO/20/{name}', got[name], want[name])
    assert_close('TNO/20/Qcv alpha 5', fusion_qcv(t(A), t(B), t(F), qcv_alpha=5),
                 reference.qcv(A, B, F, alpha=5))


@pytest.mark.e2e
@pytest.mark.parametrize('dataset', DATASETS)
def test_all_metrics_match_reference_on_every_whole_real_pair(shared_data, reference, dataset):
    """All fourteen metrics on every whole pair of every dataset folder, fused by rounded
    average and by maximum (~25 minutes on 2 CPU cores: the reference's 31x31 and 17x17
    direct filters are slow on 1280x1024 LLVIP images). The default run checks a subset (the
    tests above)."""
    folder = shared_data / 'ivif_pairs' / dataset
    n = len([p for p in (folder / 'ir').iterdir() if p.is_file()])
    for stem, _, _, A, B in real_pairs(shared_data, dataset, n):
        sources = FusionSources(t(A), t(B))
        for kind, F in simple_fusions(A, B).items():
            got = sources.evaluate(t(F))
            want = reference.reference_metrics(A, B, F)
            for name in FUSION_METRIC_NAMES:
                assert_close(f'{dataset}/{stem}/{kind}/{name}', got[name], want[name])


@pytest.mark.filterwarnings('ignore:Clustering metrics expects discrete values')
def test_mi_of_non_integer_images_matches_sklearn(shared_data, reference):
    """MI labels distinct values, so an unrounded average (x.5 values) still matches sklearn."""
    _, _, _, A, B = real_pairs(shared_data, 'MSRS')[0]
    A, B = crop(A, 120, 160), crop(B, 120, 160)
    F = (A + B) / 2  # not rounded: half-integers
    assert_close('MI', fusion_mi(t(A), t(B), t(F)), reference.mi(A, B, F))
    F2 = (A + B) / 3.7
    assert_close('MI', fusion_mi(t(A), t(B), t(F2)), reference.mi(A, B, F2))


def test_batch_equals_one_by_one(shared_data):
    pairs = real_pairs(shared_data, 'MSRS', 3)
    A = torch.stack([t(crop(p[3], 200, 280)) for p in pairs])
    B = torch.stack([t(crop(p[4], 200, 280)) for p in pairs])
    F = torch.round((A + B) / 2)
    batched = compute_fusion_metrics(A, B, F)
    assert list(batched) == list(FUSION_METRIC_NAMES)
    for i in range(len(pairs)):
        single = compute_fusion_metrics(A[i], B[i], F[i])
        for name in FUSION_METRIC_NAMES:
            assert single[name].dim() == 0
            torch.testing.assert_close(batched[name][i], single[name], rtol=1e-12, atol=1e-12)


def test_sources_reused_for_several_fused_images(shared_data):
    _, _, _, A, B = real_pairs(shared_data, 'TNO')[0]
    A, B = t(crop(A, 200, 240)), t(crop(B, 200, 240))
    sources = FusionSources(A, B)
    for F in (torch.maximum(A, B), torch.round((A + B) / 2), A):
        fresh = compute_fusion_metrics(A, B, F)
        reused = sources.evaluate(F)
        for name in FUSION_METRIC_NAMES:
            torch.testing.assert_close(reused[name], fresh[name], rtol=0, atol=0, equal_nan=True)


def test_single_metric_functions_equal_the_helper(shared_data):
    _, _, _, A, B = real_pairs(shared_data, 'RoadScene')[0]
    A, B = t(crop(A, 100, 120)), t(crop(B, 100, 120))
    F = torch.maximum(A, B)
    everything = compute_fusion_metrics(A, B, F)
    for name, fn in FUSION_METRIC_FUNCS.items():
        value = fn(F) if name in ('EN', 'SD', 'SF', 'AG') else fn(A, B, F)
        torch.testing.assert_close(value, everything[name], rtol=1e-12, atol=1e-12)
        assert fn.__doc__ and name in fn.__doc__


# --------------------------------------------------------------------------- known properties
@pytest.fixture(scope='module')
def tno_pair(shared_data):
    _, _, _, A, B = real_pairs(shared_data, 'TNO')[0]
    return t(crop(A, 160, 200)), t(crop(B, 160, 200))


def test_fused_equal_to_a_source(tno_pair):
    A, B = tno_pair
    m = compute_fusion_metrics(A, A, A)
    assert float(m['SSIM']) == pytest.approx(2.0, abs=1e-12)  # SSIM(F, A) = 1 twice
    assert float(m['MSE']) == 0.0
    assert math.isinf(float(m['PSNR']))
    assert float(m['CC']) == pytest.approx(1.0, abs=1e-12)
    assert float(m['VIF']) == pytest.approx(2.0, abs=1e-6)  # VIF(A, A) = 1
    assert float(m['Qcb']) == pytest.approx(1.0, abs=1e-12)
    assert float(m['Qcv']) == pytest.approx(0.0, abs=1e-9)
    # MI(A; A) is the entropy of A (in nats), summed over both "sources"
    assert float(m['MI']) == pytest.approx(2 * math.log(2) * float(m['EN']), rel=1e-12)
    # perfect edge transfer: Qg ~ 0.9994 (the equal-magnitude convention), Qa(1) = 0.9879/(1+e^-4.4)
    assert float(m['Qabf']) == pytest.approx(0.9994 * 0.9879 / (1 + math.exp(-4.4)), abs=2e-3)
    # SSIM(F, A) = 1 when F = A even with a different B
    assert float(fusion_ssim(A, B, A)) == pytest.approx(
        1.0 + float(fusion_ssim(B, B, A)) / 2, abs=1e-12)


def test_sum_of_sources_gives_perfect_scd(tno_pair):
    A, B = tno_pair
    m = compute_fusion_metrics(A, B, A + B, ('SCD', 'MSE'))
    assert float(m['SCD']) == pytest.approx(2.0, abs=1e-12)
    want = float(((B * B).mean() + (A * A).mean()) / 2)
    assert float(m['MSE']) == pytest.approx(want, rel=1e-12)


def test_constant_images():
    A = torch.arange(64 * 64, dtype=torch.float64).reshape(64, 64) % 256
    B = A.flip(-1)
    F = torch.full((64, 64), 7.0)
    m = compute_fusion_metrics(A, B, F)
    for name in ('EN', 'SD', 'SF', 'AG'):
        assert float(m[name]) == 0.0, name
    assert float(m['PSNR']) == pytest.approx(10 * math.log10(49 / float(m['MSE'])))
    # correlations with a constant image and VIFB's Qcb/Qcv normalisation (0/0) are NaN
    for name in ('CC', 'Qcb', 'Qcv'):
        assert math.isnan(float(m[name])), name
    assert math.isfinite(float(m['SCD']))  # F - A is not constant
    # a constant image carries no information about the sources
    assert float(m['MI']) == pytest.approx(0.0, abs=1e-12)


def test_entropy_of_known_histograms():
    two = torch.zeros(10, 10, dtype=torch.float64)
    two[:5] = 200.0
    assert float(fusion_en(two)) == pytest.approx(1.0, abs=1e-15)
    uniform = torch.arange(256, dtype=torch.float64).repeat(4, 1)
    assert float(fusion_en(uniform)) == pytest.approx(8.0, abs=1e-12)
    # values are rounded (half to even) and clamped to 0..255 before the histogram
    assert float(fusion_en(uniform + 0.3)) == pytest.approx(8.0, abs=1e-12)
    assert float(fusion_en(torch.tensor([[-5.0, 300.0]]))) == pytest.approx(1.0)


def test_swapping_the_sources_changes_nothing(tno_pair):
    A, B = tno_pair
    F = torch.round(A * 0.6 + B * 0.4)
    m = compute_fusion_metrics(A, B, F)
    s = compute_fusion_metrics(B, A, F)
    for name in FUSION_METRIC_NAMES:
        torch.testing.assert_close(m[name], s[name], rtol=1e-12, atol=1e-12)


def test_identical_sources_double_the_one_source_terms(tno_pair):
    A, B = tno_pair
    # an exact affine map of A (no rounding) correlates perfectly with both "sources"
    assert float(compute_fusion_metrics(A, A, A * 0.8 + 20, ['CC'])['CC']) == pytest.approx(
        1.0, abs=1e-12)
    assert float(compute_fusion_metrics(A, A, 255 - A, ['CC'])['CC']) == pytest.approx(
        -1.0, abs=1e-12)
    F = torch.round(A * 0.8 + 20)
    m = compute_fusion_metrics(A, A, F)
    mixed = compute_fusion_metrics(A, B, F)
    other = compute_fusion_metrics(B, B, F)
    for name in ('MI', 'VIF', 'SSIM', 'MSE'):  # sums (or means) over the two sources
        assert float(mixed[name]) == pytest.approx(
            (float(m[name]) + float(other[name])) / 2, rel=1e-9), name


def test_float32_and_uint8_inputs_give_float64_results(tno_pair):
    A, B = tno_pair
    F = torch.maximum(A, B)
    ref = compute_fusion_metrics(A, B, F)
    for dtype in (torch.float32, torch.uint8):
        got = compute_fusion_metrics(A.to(dtype), B.to(dtype), F.to(dtype))
        for name in FUSION_METRIC_NAMES:
            assert got[name].dtype == torch.float64
            torch.testing.assert_close(got[name], ref[name], rtol=0, atol=0, equal_nan=True)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
def test_cuda_matches_cpu(shared_data):
    pairs = real_pairs(shared_data, 'MSRS', 2)
    A = torch.stack([t(p[3]) for p in pairs])
    B = torch.stack([t(p[4]) for p in pairs])
    F = torch.maximum(A, B)
    cpu = compute_fusion_metrics(A, B, F)
    gpu = compute_fusion_metrics(A.cuda(), B.cuda(), F.cuda())
    for name in FUSION_METRIC_NAMES:
        assert gpu[name].device.type == 'cuda'
        torch.testing.assert_close(gpu[name].cpu(), cpu[name], rtol=1e-9, atol=1e-9)


# ------------------------------------------------------------------------------------- errors
def test_unknown_metric_names_list_the_valid_ones():
    with pytest.raises(ValueError, match='Qcv') as info:
        resolve_metric_names(['EN', 'ssim', 'FMI'])
    assert 'FMI' in str(info.value)
    assert resolve_metric_names(['en', 'QABF', 'EN']) == ('EN', 'Qabf')
    assert resolve_metric_names(None) == FUSION_METRIC_NAMES
    with pytest.raises(ValueError, match='no fusion metric'):
        resolve_metric_names([])


def test_shape_errors_name_the_arguments():
    A = torch.zeros(2, 50, 60)
    with pytest.raises(ValueError, match=r'fused \(F\).*ir \(A\)'):
        compute_fusion_metrics(A, A, torch.zeros(2, 50, 61))
    with pytest.raises(ValueError, match=r'vis \(B\)'):
        compute_fusion_metrics(A, torch.zeros(1, 50, 60), A)
    with pytest.raises(ValueError, match='grey'):
        compute_fusion_metrics(
            torch.zeros(1, 3, 50, 60), torch.zeros(1, 3, 50, 60), torch.zeros(1, 3, 50, 60))
    with pytest.raises(ValueError, match='at least 41x41'):
        fusion_vif(torch.zeros(40, 60), torch.zeros(40, 60), torch.zeros(40, 60))
    with pytest.raises(ValueError, match='at least 7x7'):
        fusion_ssim(torch.zeros(6, 60), torch.zeros(6, 60), torch.zeros(6, 60))


def test_qabf_and_qcb_on_tiny_synthetic_edges(reference):
    """Hand-made images with exact zeros/equal gradients exercise the conventions' branches."""
    A = np.zeros((48, 48))
    A[:, 24:] = 255.0
    B = np.zeros((48, 48))
    B[24:, :] = 128.0
    for F in (A.copy(), np.maximum(A, B), np.round((A + B) / 2)):
        assert_close('Qabf', fusion_qabf(t(A), t(B), t(F)), reference.qabf(A, B, F))
        want = reference.qcb(A, B, F)
        got = float(fusion_qcb(t(A), t(B), t(F)))
        assert math.isnan(got) == math.isnan(want)
        if not math.isnan(want):
            assert_close('Qcb', got, want)


# -------------------------------------------------------------------------------- grey reading
def test_load_grey_follows_the_float_bgr2gray_convention(tmp_path):
    rng = np.random.default_rng(0)
    bgr = rng.integers(0, 256, size=(20, 30, 3), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / 'c.png'), bgr)
    grey = load_grey(tmp_path / 'c.png')
    b, g, r = (bgr[..., i].astype(np.float64) for i in range(3))
    want = np.round(0.299 * r + 0.587 * g + 0.114 * b)
    assert grey.dtype == np.float64 and grey.shape == (20, 30)
    # float32 conversion: at most one grey level off the float64 formula at .5 ties
    assert np.abs(grey - want).max() <= 1
    cv2.imwrite(str(tmp_path / 'g.png'), bgr[..., 0])  # a single-channel file
    np.testing.assert_array_equal(load_grey(tmp_path / 'g.png'), bgr[..., 0].astype(np.float64))
    with pytest.raises(FileNotFoundError, match='nope.png'):
        load_grey(tmp_path / 'nope.png')
    (tmp_path / 'bad.png').write_bytes(b'not an image')
    with pytest.raises(ValueError, match='bad.png'):
        load_grey(tmp_path / 'bad.png')


def test_rgb_tensor_grey_equals_saving_and_reading(tmp_path):
    rng = np.random.default_rng(1)
    rgb = torch.from_numpy(rng.random((3, 17, 23))).float()
    rgb[0, 0, 0] = 1.2  # clipped
    rgb[1, 0, 1] = -0.1
    u8 = np.round(np.clip(rgb.numpy() * 255, 0, 255)).astype(np.uint8)
    cv2.imwrite(str(tmp_path / 'f.png'), np.ascontiguousarray(u8.transpose(1, 2, 0)[..., ::-1]))
    np.testing.assert_array_equal(rgb_float_to_grey(rgb), load_grey(tmp_path / 'f.png'))
    grey = rgb_float_to_grey(rgb[:1])
    np.testing.assert_array_equal(grey, np.round(np.clip(rgb[0].numpy() * 255, 0, 255)))
    with pytest.raises(ValueError, match='RGB'):
        rgb_float_to_grey(torch.zeros(4, 5, 5))


# ------------------------------------------------------------------------ low-level operations
def test_fft_filters_equal_direct_filtering():
    """The FFT paths (two real images per complex transform, spectrum folding for stride 2)
    equal the direct shifted-slice filters, on odd/even and non-fast sizes."""
    from cldyn_mm.evaluation.functional._fusion_ops import (PackedSpectrum, ValidFilterBank,
                                                            box_mean_valid, centred_filter_real,
                                                            conv3x3_same_zero, sep_filter_valid,
                                                            sobel_same_zero)
    g = torch.Generator().manual_seed(0)
    for H, W in ((61, 77), (64, 96), (97, 131)):
        x = torch.rand(3, H, W, generator=g, dtype=torch.float64) * 255
        y = torch.rand(3, H, W, generator=g, dtype=torch.float64) * 255
        for K in (3, 9, 17):
            k = torch.rand(K, generator=g, dtype=torch.float64)
            bank = ValidFilterBank(x)
            torch.testing.assert_close(bank.filter(k), sep_filter_valid(x, k), rtol=0, atol=1e-9)
            torch.testing.assert_close(
                bank.filter(k, first=2), sep_filter_valid(x[:2], k), rtol=0, atol=1e-9)
            packed = ValidFilterBank.from_complex(torch.complex(x, y))
            for stride in (1, 2):
                z = packed.filter_complex(k, stride=stride)
                torch.testing.assert_close(
                    z.real, sep_filter_valid(x, k, stride=stride), rtol=0, atol=1e-9)
                torch.testing.assert_close(
                    z.imag, sep_filter_valid(y, k, stride=stride), rtol=0, atol=1e-9)
        torch.testing.assert_close(
            box_mean_valid(x, 7),
            sep_filter_valid(x, torch.full((7, ), 1 / 7., dtype=torch.float64)),
            rtol=0,
            atol=1e-9)
        xi = torch.round(x)
        sx, sy = sobel_same_zero(xi)
        assert torch.equal(sx, conv3x3_same_zero(xi, ((1, 0, -1), (2, 0, -2), (1, 0, -1))))
        assert torch.equal(sy, conv3x3_same_zero(xi, ((-1, -2, -1), (0, 0, 0), (1, 2, 1))))
        # MATLAB real(ifft2(ifftshift(fftshift(fft2(x)) .* R))) for a radial response R
        fy = np.fft.fftshift(np.fft.fftfreq(H))
        fx = np.fft.fftshift(np.fft.fftfreq(W))
        R = np.exp(-(fy[:, None]**2 + fx[None, :]**2) * 20)
        want = np.stack([
            np.real(np.fft.ifft2(np.fft.ifftshift(np.fft.fftshift(np.fft.fft2(im)) * R)))
            for im in x.numpy()
        ])
        torch.testing.assert_close(
            centred_filter_real(x, torch.from_numpy(R)), torch.from_numpy(want), rtol=0, atol=1e-9)
        assert PackedSpectrum(x).M == 3  # odd batch: a zero image completes the last pair
