"""Straightforward numpy/scipy reference implementation of the fourteen fusion metrics.

Decision: this is the single reference the project checks its fast torch metrics
(``cldyn_mm.evaluation.functional.fusion_metrics``) against. It lives under ``benchmarks/`` so
that ``benchmarks/bench_metrics.py`` can time it without importing anything from ``tests/``;
the tests in ``tests/evaluation/`` load this file by path. It must stay independent of the fast
code: it imports nothing from ``cldyn_mm`` and is written the plain way (one image at a time,
``scipy.signal`` 2-D convolutions, numpy masks, Python loops over Qcv's regions,
scikit-learn's ``mutual_info_score`` for MI and scikit-image's ``structural_similarity`` for
SSIM), following ``shared/spec/metrics.md`` and, for Qcb/Qcv, VIFB's MATLAB code literally
(complex FFTs with ``fftshift``/``ifftshift``, ``filter2`` as 2-D correlation, ``blkproc``
with zero-padded tiles).

All functions take 2-D float64 arrays (grey levels 0..255) ``A`` (infrared), ``B`` (visible),
``F`` (fused) and return a Python float. scikit-learn and scikit-image are test requirements
(``requirements/tests.txt``); they are imported only by the functions that need them.
"""
import math

import numpy as np
from scipy.signal import convolve2d, correlate2d

__all__ = ['REFERENCE_METRICS', 'reference_metrics']


def en(F):
    levels = np.uint8(np.round(F)).ravel()
    h = np.bincount(levels, minlength=256) / levels.size
    h = h[h > 0]
    return float(-np.sum(h * np.log2(h)))


def sd(F):
    return float(np.std(F))


def sf(F):
    rf = np.mean((F[:, 1:] - F[:, :-1])**2)
    cf = np.mean((F[1:, :] - F[:-1, :])**2)
    return float(np.sqrt(rf + cf))


def ag(F):
    gy, gx = np.gradient(F)  # central differences inside, one-sided on the border
    return float(np.mean(np.sqrt((gx**2 + gy**2) / 2)))


def mi(A, B, F):
    from sklearn.metrics import mutual_info_score
    return float(mutual_info_score(F.ravel(), A.ravel()) + mutual_info_score(F.ravel(), B.ravel()))


def _corr(x, y):
    return np.corrcoef(x.ravel(), y.ravel())[0, 1]


def scd(A, B, F):
    return float(_corr(B, F - A) + _corr(A, F - B))


def cc(A, B, F):
    return float((_corr(A, F) + _corr(B, F)) / 2)


def mse(A, B, F):
    return float((np.mean((A - F)**2) + np.mean((B - F)**2)) / 2)


def psnr(A, B, F):
    return float(10 * np.log10(np.max(F)**2 / mse(A, B, F)))


# ----------------------------------------------------------------------------------------- VIF
def _vif_window(n):
    sd_ = n / 5.0
    r = (n - 1) / 2.0
    y, x = np.mgrid[-r:r + 1, -r:r + 1]
    h = np.exp(-(x * x + y * y) / (2 * sd_ * sd_))
    h[h < np.finfo(float).eps * h.max()] = 0
    return h / h.sum()


def _vif_single(ref, dist, sigma_nsq=2.0, eps=1e-10):
    num = 0.0
    den = 0.0
    for scale in range(1, 5):
        win = _vif_window(2**(5 - scale) + 1)
        if scale > 1:
            ref = convolve2d(ref, win, mode='valid')[::2, ::2]
            dist = convolve2d(dist, win, mode='valid')[::2, ::2]
        mu1 = convolve2d(ref, win, mode='valid')
        mu2 = convolve2d(dist, win, mode='valid')
        s1 = convolve2d(ref * ref, win, mode='valid') - mu1 * mu1
        s2 = convolve2d(dist * dist, win, mode='valid') - mu2 * mu2
        s12 = convolve2d(ref * dist, win, mode='valid') - mu1 * mu2
        s1[s1 < 0] = 0
        s2[s2 < 0] = 0
        g = s12 / (s1 + eps)
        sv = s2 - g * s12
        low1 = s1 < eps
        g[low1] = 0
        sv[low1] = s2[low1]
        s1[low1] = 0
        low2 = s2 < eps
        g[low2] = 0
        sv[low2] = 0
        neg = g < 0
        sv[neg] = s2[neg]
        g[neg] = 0
        sv[sv <= eps] = eps
        num += np.sum(np.log10(1 + g * g * s1 / (sv + sigma_nsq)))
        den += np.sum(np.log10(1 + s1 / sigma_nsq))
    v = num / den
    return 1.0 if np.isnan(v) else float(v)


def vif(A, B, F):
    return _vif_single(A, F) + _vif_single(B, F)


# ---------------------------------------------------------------------------------------- Qabf
def _qabf_grad(img):
    sx = convolve2d(img, np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], float), mode='same')
    sy = convolve2d(img, np.array([[1, 2, 1], [0, 0, 0], [-1, -2, -1]], float), mode='same')
    g = np.sqrt(sx * sx + sy * sy)
    a = np.zeros_like(img)
    nz = sx != 0
    a[~nz] = math.pi / 2
    a[nz] = np.arctan(sy[nz] / sx[nz])
    return g, a


def _qabf_q(gs, as_, gf, af):
    G = np.zeros_like(gs)
    m = gs > gf
    G[m] = gf[m] / gs[m]
    m = gs == gf
    G[m] = gf[m]
    m = gs < gf
    G[m] = gs[m] / gf[m]
    Aa = 1 - np.abs(as_ - af) / (math.pi / 2)
    return 0.9994 / (1 + np.exp(-15 * (G - 0.5))) * 0.9879 / (1 + np.exp(-22 * (Aa - 0.8)))


def qabf(A, B, F):
    ga, aa = _qabf_grad(A)
    gb, ab = _qabf_grad(B)
    gf, af = _qabf_grad(F)
    qa = _qabf_q(ga, aa, gf, af)
    qb = _qabf_q(gb, ab, gf, af)
    return float(np.sum(qa * ga + qb * gb) / np.sum(ga + gb))


# ---------------------------------------------------------------------------------------- SSIM
def ssim(A, B, F, data_range=255.0):
    from skimage.metrics import structural_similarity
    return float(
        structural_similarity(F, A, data_range=data_range) +
        structural_similarity(F, B, data_range=data_range))


# ----------------------------------------------------------------------------- Qcb, Qcv (VIFB)
def _normalize1(data):
    data = np.asarray(data, float)
    da, xiao = data.max(), data.min()
    if da == 0 and xiao == 0:
        return data
    with np.errstate(divide='ignore', invalid='ignore'):
        return np.round((data - xiao) / (da - xiao) * 255)


def _freqspace_1d(n):
    # MATLAB: n odd -> (-n+1:2:n-1)/n, n even -> (-n:2:n-2)/n
    if n % 2:
        return np.arange(-n + 1, n, 2) / n
    return np.arange(-n, n - 1, 2) / n


def _freqspace_meshgrid(hang, lie):
    return np.meshgrid(_freqspace_1d(lie), _freqspace_1d(hang))


def _matlab_freq_filter(img, response):
    return np.fft.ifft2(np.fft.ifftshift(np.fft.fftshift(np.fft.fft2(img)) * response))


def _filter2_same(kernel, img):
    return correlate2d(img, kernel, mode='same')


def qcb(A, B, F):
    im1, im2, fused = _normalize1(A), _normalize1(B), _normalize1(F)
    f0, f1, a = 15.3870, 1.3456, 0.7622
    k, h, p, q, Z = 1, 1, 3, 2, 0.0001
    hang, lie = im1.shape
    HH, LL = hang / 30, lie / 30
    u, v = _freqspace_meshgrid(hang, lie)
    u = LL * u
    v = HH * v
    r = np.sqrt(u**2 + v**2)
    Sd = np.exp(-(r / f0)**2) - a * np.exp(-(r / f1)**2)
    fused1 = _matlab_freq_filter(im1, Sd)
    fused2 = _matlab_freq_filter(im2, Sd)
    ffused = _matlab_freq_filter(fused, Sd)
    x, y = np.meshgrid(np.arange(-15, 16), np.arange(-15, 16))
    G1 = np.exp(-(x * x + y * y) / (2 * 2 * 2)) / (2 * np.pi * 2 * 2)
    G2 = np.exp(-(x * x + y * y) / (2 * 4 * 4)) / (2 * np.pi * 4 * 4)

    def contrast_p(im):
        with np.errstate(divide='ignore', invalid='ignore'):
            c = np.abs(_filter2_same(G1, im) / _filter2_same(G2, im) - 1)
            return (k * c**p) / (h * c**q + Z)

    C1P, C2P, CfP = contrast_p(fused1), contrast_p(fused2), contrast_p(ffused)
    with np.errstate(divide='ignore', invalid='ignore'):
        mask = (C1P < CfP).astype(float)
        Q1F = (C1P / CfP) * mask + (CfP / C1P) * (1 - mask)
        mask = (C2P < CfP).astype(float)
        Q2F = (C2P / CfP) * mask + (CfP / C2P) * (1 - mask)
        ramda1 = (C1P * C1P) / (C1P * C1P + C2P * C2P)
        ramda2 = (C2P * C2P) / (C1P * C1P + C2P * C2P)
    Q = ramda1 * Q1F + ramda2 * Q2F
    return float(np.mean(Q))


def _blkproc(img, size, fun):
    """MATLAB blkproc(img, [size size], fun): zero-pad right/bottom to whole tiles."""
    hang, lie = img.shape
    nb_r, nb_c = -(-hang // size), -(-lie // size)
    padded = np.zeros((nb_r * size, nb_c * size), dtype=img.dtype)
    padded[:hang, :lie] = img
    out = np.zeros((nb_r, nb_c), dtype=np.result_type(img.dtype, float))
    for i in range(nb_r):
        for j in range(nb_c):
            out[i, j] = fun(padded[i * size:(i + 1) * size, j * size:(j + 1) * size])
    return out


def qcv(A, B, F, alpha=1.0, window=16):
    im1, im2, fused = _normalize1(A), _normalize1(B), _normalize1(F)
    flt1 = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], float)
    flt2 = np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]], float)

    def grad(im):
        gx = _filter2_same(flt1, im)
        gy = _filter2_same(flt2, im)
        return np.sqrt(gx * gx + gy * gy)

    hang, lie = im1.shape
    ramda1 = _blkproc(grad(im1), window, lambda x: np.sum(x**alpha))
    ramda2 = _blkproc(grad(im2), window, lambda x: np.sum(x**alpha))
    u, v = _freqspace_meshgrid(hang, lie)
    u = lie / 8 * u
    v = hang / 8 * v
    r = np.sqrt(u**2 + v**2)
    theta_m = 2.6 * (0.0192 + 0.144 * r) * np.exp(-(0.144 * r)**1.1)
    Df1 = _matlab_freq_filter(im1 - fused, theta_m)
    Df2 = _matlab_freq_filter(im2 - fused, theta_m)
    D1 = _blkproc(Df1, window, lambda x: np.mean(x**2))
    D2 = _blkproc(Df2, window, lambda x: np.mean(x**2))
    Q = np.sum(ramda1 * D1 + ramda2 * D2) / np.sum(ramda1 + ramda2)
    return float(np.real(Q))


REFERENCE_METRICS = {
    'EN': lambda A, B, F: en(F),
    'SD': lambda A, B, F: sd(F),
    'SF': lambda A, B, F: sf(F),
    'AG': lambda A, B, F: ag(F),
    'MI': mi,
    'SCD': scd,
    'CC': cc,
    'MSE': mse,
    'PSNR': psnr,
    'VIF': vif,
    'Qabf': qabf,
    'SSIM': ssim,
    'Qcb': qcb,
    'Qcv': qcv,
}


def reference_metrics(A, B, F, metrics=None):
    """All (or the chosen) reference metrics of one triple as ``{name: float}``."""
    names = list(REFERENCE_METRICS) if metrics is None else list(metrics)
    A, B, F = (np.asarray(x, dtype=np.float64) for x in (A, B, F))
    return {name: REFERENCE_METRICS[name](A, B, F) for name in names}
