"""Fusion-quality metrics for infrared-visible image fusion, batched in torch.

The fourteen metrics follow the conventions that published IVIF tables use (the widely copied
Python evaluator, itself following the VIFB benchmark's MATLAB code); the project's statement of
them is ``shared/spec/metrics.md`` and ``docs/metrics.md`` explains the odd ones.

Inputs everywhere: ``A`` = infrared, ``B`` = visible, ``F`` = fused; each a single-channel image
with values in 0..255, as :func:`~cldyn_mm.evaluation.functional.load_grey` reads it (OpenCV
BGR->GRAY weights, rounded to integers). Shapes ``(N, H, W)`` (a batch of N same-size triples,
results of shape ``(N,)``) or ``(H, W)`` (results 0-d). Any device; the arithmetic is float64
(see :mod:`._fusion_ops`), results are float64 tensors on the input's device.

Use :func:`compute_fusion_metrics` (or :class:`FusionSources` when several fused images are
scored against the same sources) to compute many metrics at once: intermediates shared between
metrics, and the source-only ones (VIF source statistics, Qcb source contrasts, Qcv saliencies,
Qabf source gradients, ...) are computed once.
"""
import math
from typing import Callable, Dict, Iterable, NamedTuple, Optional, Tuple

import torch

from ._fusion_ops import (PackedSpectrum, ValidFilterBank, as_batch, batched_bincount, block_sum,
                          box_mean_valid, check_same_shape, fft_response, fft_sep_filter_same_zero,
                          freqspace_meshgrid, integer_levels, normalize1, sobel_same_zero)

Tensor = torch.Tensor

__all__ = [
    'FUSION_METRIC_NAMES', 'FUSION_METRIC_INFO', 'QCV_ALPHA', 'FusionSources',
    'compute_fusion_metrics', 'resolve_metric_names', 'fusion_en', 'fusion_sd', 'fusion_sf',
    'fusion_ag', 'fusion_mi', 'fusion_scd', 'fusion_cc', 'fusion_mse', 'fusion_psnr', 'fusion_vif',
    'fusion_qabf', 'fusion_ssim', 'fusion_qcb', 'fusion_qcv'
]

#: Canonical metric names, in the order tables and files list them.
FUSION_METRIC_NAMES: Tuple[str, ...] = ('EN', 'SD', 'SF', 'AG', 'MI', 'SCD', 'CC', 'MSE', 'PSNR',
                                        'VIF', 'Qabf', 'SSIM', 'Qcb', 'Qcv')

#: Exponent of the gradient magnitude in Qcv's region saliency. ``shared/spec/metrics.md``
#: prescribes 1; note that VIFB's ``metricsQcv.m`` (and the original ``metricChen.m``) set
#: ``alpha = 5``; pass ``qcv_alpha=5`` to reproduce VIFB's MATLAB numbers.
QCV_ALPHA: float = 1.0


class MetricInfo(NamedTuple):
    """What a metric measures, its range and direction."""
    higher_is_better: bool
    value_range: str
    summary: str


FUSION_METRIC_INFO: Dict[str, MetricInfo] = {
    'EN': MetricInfo(True, '[0, 8] bits', 'Shannon entropy of the fused histogram'),
    'SD': MetricInfo(True, '[0, 127.5]', 'standard deviation (contrast) of the fused image'),
    'SF': MetricInfo(True, '[0, ~360]', 'spatial frequency (row/column activity)'),
    'AG': MetricInfo(True, '[0, ~255]', 'average gradient (sharpness)'),
    'MI': MetricInfo(True, '[0, 2 ln 256] nats', 'mutual information I(F;A) + I(F;B)'),
    'SCD': MetricInfo(True, '[-2, 2]', 'sum of the correlations of differences'),
    'CC': MetricInfo(True, '[-1, 1]', 'mean correlation coefficient with the sources'),
    'MSE': MetricInfo(False, '[0, 65025]', 'mean squared error to the sources'),
    'PSNR': MetricInfo(True, '(-inf, inf] dB', 'peak signal-to-noise ratio w.r.t. max(F)'),
    'VIF': MetricInfo(True, '[0, ~2+]', 'visual information fidelity VIF(A,F) + VIF(B,F)'),
    'Qabf': MetricInfo(True, '[0, ~1]', 'Xydeas-Petrovic gradient-based edge transfer'),
    'SSIM': MetricInfo(True, '[-2, 2]', 'structural similarity SSIM(F,A) + SSIM(F,B)'),
    'Qcb': MetricInfo(True, '[0, 1]', 'Chen-Blum human-perception contrast preservation'),
    'Qcv': MetricInfo(False, '[0, inf)', 'Chen-Varshney regional CSF-weighted distortion'),
}

_CANONICAL = {name.lower(): name for name in FUSION_METRIC_NAMES}


def resolve_metric_names(metrics: Optional[Iterable[str]] = None) -> Tuple[str, ...]:
    """Validate metric names (case-insensitive) and return their canonical spelling.

    Args:
        metrics: names such as ``('EN', 'qabf')``; ``None`` means all fourteen.

    Returns:
        tuple[str]: canonical names, duplicates removed, in the given order.

    Raises:
        ValueError: for an unknown name (the message lists the valid names) or an empty list.
    """
    if metrics is None:
        return FUSION_METRIC_NAMES
    if isinstance(metrics, str):
        metrics = (metrics, )
    out = []
    bad = []
    for m in metrics:
        canon = _CANONICAL.get(str(m).lower())
        if canon is None:
            bad.append(m)
        elif canon not in out:
            out.append(canon)
    if bad:
        raise ValueError(f'unknown fusion metric name(s) {bad}; valid names are '
                         f'{", ".join(FUSION_METRIC_NAMES)}')
    if not out:
        raise ValueError('no fusion metric selected; valid names are '
                         f'{", ".join(FUSION_METRIC_NAMES)}')
    return tuple(out)


# ---------------------------------------------------------------------------------------------
# constants of the individual metrics
# ---------------------------------------------------------------------------------------------
_VIF_SIGMA_NSQ = 2.0
_SSIM_COV_NORM = 49.0 / 48.0  # skimage's use_sample_covariance=True with a 7x7 window
_VIF_EPS = 1e-10


def _vif_window_1d(scale: int) -> Tensor:
    """1-D factor of VIF's Gaussian window at ``scale`` (1..4): N = 2^(5-s)+1, sigma = N/5.

    The 2-D window of the spec is ``h = exp(-(x^2+y^2)/(2 sigma^2))`` with entries below
    ``eps * max(h)`` set to 0, normalised to sum 1. For these sizes no entry is that small
    (checked below), so the window equals ``outer(g, g)`` with the normalised 1-D ``g``.
    """
    n = 2**(5 - scale) + 1
    sd = n / 5.0
    x = torch.arange(n, dtype=torch.float64) - (n - 1) / 2.0
    h2 = torch.exp(-(x[:, None]**2 + x[None, :]**2) / (2 * sd * sd))
    if bool((h2 < torch.finfo(torch.float64).eps * h2.max()).any()):  # pragma: no cover
        raise AssertionError('VIF window is no longer separable')
    g = torch.exp(-x**2 / (2 * sd * sd))
    return g / g.sum()


_VIF_WINDOWS = [_vif_window_1d(s) for s in range(1, 5)]

# Sobel filters: Qabf (Xydeas-Petrovic) applies [[-1,0,1],[-2,0,2],[-1,0,1]] and
# [[1,2,1],[0,0,0],[-1,-2,-1]] as true 2-D convolutions, i.e. as correlations with the flipped
# kernels [[1,0,-1],[2,0,-2],[1,0,-1]] and [[-1,-2,-1],[0,0,0],[1,2,1]]: exactly what
# ``sobel_same_zero`` computes. Qcv applies [[-1,0,1],[-2,0,2],[-1,0,1]] and
# [[-1,-2,-1],[0,0,0],[1,2,1]] with MATLAB filter2 (correlation): the same responses up to the
# sign of the x one, and Qcv uses only the magnitude.


def _qcb_gaussian_1d(sigma: float) -> Tensor:
    """1-D factor of VIFB's un-normalised 31x31 Gaussian ``exp(-(x^2+y^2)/(2s^2))/(2 pi s^2)``."""
    x = torch.arange(-15, 16, dtype=torch.float64)
    return torch.exp(-x**2 / (2 * sigma * sigma)) / math.sqrt(2 * math.pi * sigma * sigma)


_QCB_G1 = _qcb_gaussian_1d(2.0)
_QCB_G2 = _qcb_gaussian_1d(4.0)

_RESPONSE_CACHE: Dict[tuple, Tensor] = {}


def _qcb_csf(H: int, W: int, device) -> Tensor:
    """Chen-Blum's DoG contrast-sensitivity response, as the multiplier of ``fft2`` (cached;
    defined on the centred ``freqspace`` grid (H, W))."""
    key = ('qcb', H, W, str(device))
    if key not in _RESPONSE_CACHE:
        u, v = freqspace_meshgrid(H, W, device)
        r = torch.sqrt((u * (W / 30.0))**2 + (v * (H / 30.0))**2)
        _RESPONSE_CACHE[key] = fft_response(
            torch.exp(-(r / 15.3870)**2) - 0.7622 * torch.exp(-(r / 1.3456)**2))
    return _RESPONSE_CACHE[key]


def _qcv_csf(H: int, W: int, device) -> Tensor:
    """Chen-Varshney's Mannos-Sakrison CSF response, as the multiplier of ``fft2`` (cached;
    defined on the centred ``freqspace`` grid (H, W))."""
    key = ('qcv', H, W, str(device))
    if key not in _RESPONSE_CACHE:
        u, v = freqspace_meshgrid(H, W, device)
        r = torch.sqrt((u * (W / 8.0))**2 + (v * (H / 8.0))**2)
        _RESPONSE_CACHE[key] = fft_response(2.6 * (0.0192 + 0.144 * r) *
                                            torch.exp(-(0.144 * r)**1.1))
    return _RESPONSE_CACHE[key]


def _csf_filter(spec: PackedSpectrum, which: str) -> Tensor:
    """Qcb's ('qcb') or Qcv's ('qcv') CSF filtering of the images transformed in ``spec``
    (VIFB: ``real(ifft2(ifftshift(fftshift(fft2(x)) .* csf)))``)."""
    response = (_qcb_csf if which == 'qcb' else _qcv_csf)(spec.H, spec.W, spec.spec.device)
    return spec.apply(response)


def _vif_min_size() -> int:
    """Smallest side length for which all four VIF scales have a non-empty 'valid' map."""
    n = 1
    while True:
        h = n
        ok = True
        for s, g in enumerate(_VIF_WINDOWS, start=1):
            k = g.numel()
            if s > 1:
                if h < k:
                    ok = False
                    break
                h = (h - k + 1 + 1) // 2
            if h < k:
                ok = False
                break
        if ok:
            return n
        n += 1


_VIF_MIN_SIZE = _vif_min_size()  # 41


# ---------------------------------------------------------------------------------------------
# per-image helpers
# ---------------------------------------------------------------------------------------------
def _spatial_mean(x: Tensor) -> Tensor:
    return x.mean(dim=(-2, -1))


def _spatial_sum(x: Tensor) -> Tensor:
    return x.sum(dim=(-2, -1))


def _centred(x: Tensor) -> Tuple[Tensor, Tensor]:
    """``(x - mean(x), sum((x - mean(x))^2))`` per image."""
    xc = x - _spatial_mean(x)[:, None, None]
    return xc, _spatial_sum(xc * xc)


def _pearson(xc: Tensor, xss: Tensor, yc: Tensor, yss: Tensor) -> Tensor:
    """Pearson correlation from centred images and their sums of squares (NaN if constant)."""
    return _spatial_sum(xc * yc) / torch.sqrt(xss * yss)


def _mi_from_labels(fl: Tensor, kf: int, al: Tensor, ka: int) -> Tensor:
    """Mutual information (nats) between label images, per image, as scikit-learn computes it.

    ``fl``, ``al``: int64 ``(N, P)`` labels in ``[0, kf)``, ``[0, ka)``. Equal to
    ``sklearn.metrics.mutual_info_score(f, a)`` up to rounding: the joint histogram has one bin
    per pair of distinct values, MI = sum p_fa log(p_fa / (p_f p_a)), clipped at 0.
    """
    N, P = fl.shape
    logn = math.log(P)
    if N * kf * ka <= (1 << 26):
        joint = batched_bincount(fl * ka + al, kf * ka).reshape(N, kf, ka)
        pf = joint.sum(2, keepdim=True)
        pa = joint.sum(1, keepdim=True)
        nz = joint > 0
        safe = torch.where(nz, joint, torch.ones_like(joint))
        terms = safe / P * (
            torch.log(safe) + logn - torch.log(pf.clamp_min(1)) - torch.log(pa.clamp_min(1)))
        mi = torch.where(nz, terms, torch.zeros_like(terms)).sum(dim=(1, 2))
    else:  # many distinct values (non-integer input): sparse joint histogram per image
        out = []
        for f, a in zip(fl, al):
            codes, counts = torch.unique(f * ka + a, return_counts=True)
            cf = torch.bincount(f, minlength=kf).to(torch.float64)
            ca = torch.bincount(a, minlength=ka).to(torch.float64)
            c = counts.to(torch.float64)
            t = c / P * (
                torch.log(c) + logn - torch.log(cf[codes // ka]) - torch.log(ca[codes % ka]))
            out.append(t.sum())
        mi = torch.stack(out)
    return mi.clamp_min(0.0)


def _labels(x: Tensor) -> Tuple[Tensor, int]:
    """Integer labels (N, P) of the distinct values of each image and the label count."""
    lv = integer_levels(x)
    if lv is not None:
        return lv.flatten(1), 256
    flat = x.flatten(1)
    labs = []
    k = 1
    for row in flat:
        uniq, inv = torch.unique(row, return_inverse=True)
        labs.append(inv)
        k = max(k, uniq.numel())
    return torch.stack(labs), k


def _sobel_qabf(x: Tensor) -> Tuple[Tensor, Tensor]:
    """Qabf's gradient magnitude and angle: ``g = |S|``, ``alpha = atan(Sy/Sx)`` (pi/2 if Sx=0)."""
    sx, sy = sobel_same_zero(x)
    zero = sx == 0
    angle = torch.div(sy, sx).atan_().masked_fill_(zero, math.pi / 2)
    g = sx.mul_(sx).addcmul_(sy, sy).sqrt_()
    return g, angle


def _qabf_weighted_sum(g_s: Tensor, a_s: Tensor, g_f: Tensor, a_f: Tensor) -> Tensor:
    """``sum(Q_SF * g_S)`` per image, with the edge preservation Q_SF = Qg * Qa of source S in
    the fused image (``g_f``/``a_f`` broadcast against ``g_s``/``a_s``)."""
    # G: smaller / larger magnitude; where they are equal, the magnitude itself (reference code)
    G = torch.minimum(g_s, g_f)
    G.div_(torch.maximum(g_s, g_f))
    G = torch.where(g_s == g_f, g_f, G, out=G)
    qg = G.sub_(0.5).mul_(-15).exp_().add_(1).reciprocal_().mul_(0.9994)
    A = torch.sub(a_s, a_f).abs_().mul_(-2 / math.pi).add_(1)
    qa = A.sub_(0.8).mul_(-22).exp_().add_(1).reciprocal_().mul_(0.9879)
    return _spatial_sum(qg.mul_(qa).mul_(g_s))


def _vif_source_terms(s1: Tensor, m1: Tensor, s2: Tensor, m2: Tensor, s12: Tensor) -> Tensor:
    """Numerator sum of one VIF scale: ``s1`` the reference variance (clamped at 0 and set to 0
    where ``m1 = s1 < eps``), ``s2`` the distorted variance (clamped, ``m2 = s2 < eps``),
    ``s12`` the covariance (overwritten). The usual clamping, in the reference's order:
    g = s12/(s1+eps), sv = s2 - g s12; g = 0, sv = s2 where s1 < eps; g = 0, sv = 0 where
    s2 < eps; sv = s2, g = 0 where g < 0; sv >= eps."""
    eps = _VIF_EPS
    g = torch.add(s1, eps)
    torch.div(s12, g, out=g)
    sv = s12.mul_(g)
    torch.sub(s2, sv, out=sv)
    g.masked_fill_(m1, 0.0)
    sv = torch.where(m1, s2, sv, out=sv)
    g.masked_fill_(m2, 0.0)
    sv.masked_fill_(m2, 0.0)
    neg = g < 0
    sv = torch.where(neg, s2, sv, out=sv)
    g.masked_fill_(neg, 0.0)
    sv.clamp_min_(eps).add_(_VIF_SIGMA_NSQ)
    g.mul_(g).mul_(s1).div_(sv).add_(1).log10_()
    return _spatial_sum(g)


def _qcb_masked_contrast(csf_img: Tensor) -> Tensor:
    """Chen-Blum masked contrast ``C^p / (h C^q + Z)`` (k = h = 1, p = 3, q = 2, Z = 1e-4) of a
    CSF-filtered image, ``C = |G1*I / G2*I - 1|`` with VIFB's 31x31 Gaussians (sigma 2 and 4,
    ``filter2`` 'same', zero padding)."""
    b1, b2 = fft_sep_filter_same_zero(csf_img, (_QCB_G1, _QCB_G2))
    c = b1.div_(b2).sub_(1).abs_()
    c2 = b2.copy_(c).mul_(c)
    return c.mul_(c2).div_(c2.add_(1e-4))


# ---------------------------------------------------------------------------------------------
# sources with cached intermediates
# ---------------------------------------------------------------------------------------------
class FusionSources:
    """A batch of IR/VIS source pairs with lazily cached source-only intermediates.

    Scoring several fused images (e.g. several methods) against the same sources reuses what
    depends on the sources alone: VIF's source pyramids and local statistics, Qabf's source
    gradients, SSIM's source moments, Qcb's source contrasts, Qcv's source saliencies, ...

    Args:
        ir (Tensor): A, ``(N, H, W)`` or ``(H, W)``, grey levels in 0..255.
        vis (Tensor): B, same shape and device.
        ssim_data_range (float): ``data_range`` of SSIM (C1 = (0.01 L)^2, C2 = (0.03 L)^2).
            Default 255 as the spec says.
        qcv_alpha (float): exponent of the gradient magnitude in Qcv's region saliency.
            Default :data:`QCV_ALPHA` (1, the spec); VIFB's MATLAB code uses 5.
        qcv_window (int): Qcv's region size (default 16).
    """

    def __init__(self,
                 ir,
                 vis,
                 *,
                 ssim_data_range: float = 255.0,
                 qcv_alpha: float = QCV_ALPHA,
                 qcv_window: int = 16):
        A, single_a = as_batch(ir, 'ir (A)')
        B, single_b = as_batch(vis, 'vis (B)')
        check_same_shape([('ir (A)', A), ('vis (B)', B)])
        self.ir = A
        self.vis = B
        self.single = single_a and single_b
        self.ssim_data_range = float(ssim_data_range)
        self.qcv_alpha = float(qcv_alpha)
        self.qcv_window = int(qcv_window)
        if self.qcv_window < 1:
            raise ValueError(f'qcv_window must be >= 1, got {qcv_window}')
        self._cache: Dict[str, object] = {}

    @property
    def shape(self) -> torch.Size:
        return self.ir.shape

    def _get(self, key: str, fn: Callable[[], object]):
        if key not in self._cache:
            self._cache[key] = fn()
        return self._cache[key]

    # -- source-side intermediates -------------------------------------------------------------
    def _pair(self) -> Tensor:
        """``(2, N, H, W)``: A and B stacked, so both sources go through one filter call."""
        return self._get('pair', lambda: torch.stack((self.ir, self.vis)))

    def _centred(self):
        return self._get('centred', lambda: (_centred(self.ir), _centred(self.vis)))

    def _labels(self):
        return self._get('labels', lambda: (_labels(self.ir), _labels(self.vis)))

    def _qabf(self):
        return self._get('qabf', lambda: _sobel_qabf(self._pair()))

    def _qabf_weight(self):
        g = self._qabf()[0]
        return self._get('qabf_weight', lambda: _spatial_sum(g[0] + g[1]))

    def _vif(self):
        """Per scale: AB pyramid level (2, N, h, w), local mean, local variance (clamped at 0,
        zeroed below eps), the mask ``variance < eps`` and the denominator sums (2, N)."""

        def build():
            levels = []
            ref = self._pair()
            for s, g in enumerate(_VIF_WINDOWS, start=1):
                # one forward FFT of ref + i ref^2 serves this scale's local moments and the
                # next scale's filter-and-downsample step
                bank = ValidFilterBank.from_complex(torch.complex(ref, ref * ref))
                moments = bank.filter_complex(g)
                mu = moments.real.contiguous()
                var = torch.sub(moments.imag, mu * mu).clamp_min_(0)
                low = var < _VIF_EPS
                var.masked_fill_(low, 0.0)
                den = _spatial_sum(torch.div(var, _VIF_SIGMA_NSQ).add_(1).log10_())
                levels.append((ref, mu, var, low, den))
                if s < len(_VIF_WINDOWS):
                    ref = bank.filter_complex(_VIF_WINDOWS[s], stride=2).real.contiguous()
            return levels

        return self._get('vif', build)

    def _ssim(self):
        """Source moments for SSIM: local mean ux, ``ux^2 + C1`` and local variance vx."""

        def build():
            ref = self._pair()
            ux = box_mean_valid(ref, 7)
            ux2 = ux * ux
            vx = box_mean_valid(ref * ref, 7).sub_(ux2).mul_(_SSIM_COV_NORM)
            return ux, ux2.add_(self._ssim_c1()), vx

        return self._get('ssim', build)

    def _ssim_c1(self) -> float:
        return (0.01 * self.ssim_data_range)**2

    def _ssim_c2(self) -> float:
        return (0.03 * self.ssim_data_range)**2

    def _normalized(self):
        return self._get('normalized', lambda: normalize1(self._pair()))

    def _normalized_spec(self):
        """Spectrum of the normalised sources (shared by Qcb and Qcv)."""
        return self._get('normalized_spec', lambda: PackedSpectrum(self._normalized()))

    def _qcb(self):
        """Masked contrasts C'_A, C'_B (2, N, H, W) and the saliency weights lambda_A, lambda_B."""

        def build():
            cp = _qcb_masked_contrast(_csf_filter(self._normalized_spec(), 'qcb'))
            sq = cp * cp
            lam = sq / (sq[0] + sq[1])
            return cp, lam

        return self._get('qcb', build)

    def _qcv(self):
        """Region saliencies (2, N, h', w'), their total (N,) and CSF-filtered sources."""

        def build():
            n = self._normalized()
            gx, gy = sobel_same_zero(n)  # gx is minus Qcv's x response: same magnitude
            grad = gx.mul_(gx).addcmul_(gy, gy).sqrt_()
            if self.qcv_alpha != 1.0:
                grad.pow_(self.qcv_alpha)
            sal = block_sum(grad.flatten(0, 1), self.qcv_window).unflatten(0, (2, -1))
            csf = _csf_filter(self._normalized_spec(), 'qcv')
            return sal, _spatial_sum(sal[0] + sal[1]), csf

        return self._get('qcv', build)

    # -- evaluation ------------------------------------------------------------------------------
    def evaluate(self, fused, metrics: Optional[Iterable[str]] = None) -> Dict[str, Tensor]:
        """Compute the chosen metrics of ``fused`` against these sources.

        Args:
            fused (Tensor): F, same shape and device as the sources, grey levels in 0..255.
            metrics: names (see :data:`FUSION_METRIC_NAMES`, case-insensitive); default all.

        Returns:
            dict[str, Tensor]: canonical name -> float64 values ``(N,)`` (0-d for ``(H, W)``
            inputs), in the order requested.
        """
        names = resolve_metric_names(metrics)
        F, _ = as_batch(fused, 'fused (F)')
        check_same_shape([('ir (A)', self.ir), ('fused (F)', F)])
        fcache: Dict[str, object] = {}
        out = {}
        for name in names:
            value = _METRIC_IMPL[name](self, F, fcache)
            out[name] = value[0] if self.single else value
        return out


# ---------------------------------------------------------------------------------------------
# metric implementations: (sources, F (N,H,W) float64, cache for F-side intermediates) -> (N,)
# ---------------------------------------------------------------------------------------------
def _fget(fcache: dict, key: str, fn: Callable[[], object]):
    if key not in fcache:
        fcache[key] = fn()
    return fcache[key]


def _impl_en(src: FusionSources, F: Tensor, fcache: dict) -> Tensor:
    q = torch.round(F).clamp(0, 255).to(torch.int64).flatten(1)
    p = batched_bincount(q, 256) / q.shape[1]
    return -(p * torch.log2(torch.where(p > 0, p, torch.ones_like(p)))).sum(1)


def _impl_sd(src, F, fcache):
    return torch.sqrt(_fget(fcache, 'centred', lambda: _centred(F))[1] / F[0].numel())


def _impl_sf(src, F, fcache):
    dx = F[:, :, 1:] - F[:, :, :-1]
    dy = F[:, 1:, :] - F[:, :-1, :]
    return torch.sqrt(_spatial_mean(dx * dx) + _spatial_mean(dy * dy))


def _impl_ag(src, F, fcache):
    if F.shape[-1] < 2 or F.shape[-2] < 2:
        raise ValueError(f'AG needs images of at least 2x2 pixels, got {tuple(F.shape[-2:])}')
    gx = torch.empty_like(F)
    gx[:, :, 1:-1] = (F[:, :, 2:] - F[:, :, :-2]) / 2
    gx[:, :, 0] = F[:, :, 1] - F[:, :, 0]
    gx[:, :, -1] = F[:, :, -1] - F[:, :, -2]
    gy = torch.empty_like(F)
    gy[:, 1:-1, :] = (F[:, 2:, :] - F[:, :-2, :]) / 2
    gy[:, 0, :] = F[:, 1, :] - F[:, 0, :]
    gy[:, -1, :] = F[:, -1, :] - F[:, -2, :]
    return _spatial_mean(torch.sqrt((gx * gx + gy * gy) / 2))


def _impl_mi(src, F, fcache):
    (la, ka), (lb, kb) = src._labels()
    lf, kf = _labels(F)
    return _mi_from_labels(lf, kf, la, ka) + _mi_from_labels(lf, kf, lb, kb)


def _impl_scd(src, F, fcache):
    (ac, ass), (bc, bss) = src._centred()
    dfa_c, dfa_ss = _centred(F - src.ir)
    dfb_c, dfb_ss = _centred(F - src.vis)
    return _pearson(bc, bss, dfa_c, dfa_ss) + _pearson(ac, ass, dfb_c, dfb_ss)


def _impl_cc(src, F, fcache):
    (ac, ass), (bc, bss) = src._centred()
    fc, fss = _fget(fcache, 'centred', lambda: _centred(F))
    return (_pearson(ac, ass, fc, fss) + _pearson(bc, bss, fc, fss)) / 2


def _mse(src, F, fcache):

    def build():
        da = src.ir - F
        db = src.vis - F
        return (_spatial_mean(da * da) + _spatial_mean(db * db)) / 2

    return _fget(fcache, 'mse', build)


def _impl_mse(src, F, fcache):
    return _mse(src, F, fcache)


def _impl_psnr(src, F, fcache):
    peak = F.flatten(1).amax(1)
    return 10 * torch.log10(peak * peak / _mse(src, F, fcache))


def _impl_vif(src, F, fcache):
    H, W = F.shape[-2:]
    if min(H, W) < _VIF_MIN_SIZE:
        raise ValueError(f'VIF needs images of at least {_VIF_MIN_SIZE}x{_VIF_MIN_SIZE} pixels '
                         f'(four scales of valid filtering), got {H}x{W}')
    num = torch.zeros(2, F.shape[0], dtype=torch.float64, device=F.device)
    den = torch.zeros_like(num)
    dist = F
    for s, (g, (ref, mu1, var1, low1, den1)) in enumerate(zip(_VIF_WINDOWS, src._vif()), start=1):
        # F + i F^2 and A F + i B F through one forward FFT; F again for the next scale
        n = dist.shape[0]
        z = torch.empty((2 * n, ) + dist.shape[1:], dtype=torch.complex128, device=dist.device)
        zr = torch.view_as_real(z)
        zr[:n, ..., 0] = dist
        zr[:n, ..., 1] = dist * dist
        zr[n:, ..., 0] = ref[0] * dist
        zr[n:, ..., 1] = ref[1] * dist
        bank = ValidFilterBank.from_complex(z)
        moments = bank.filter_complex(g)
        mu2 = moments[:n].real.contiguous()
        var2 = torch.sub(moments[:n].imag, mu2 * mu2).clamp_min_(0)
        low2 = var2 < _VIF_EPS
        cov = torch.stack((moments[n:].real, moments[n:].imag)).sub_(mu1 * mu2)
        num += _vif_source_terms(var1, low1, var2, low2, cov)
        den += den1
        if s < len(_VIF_WINDOWS):
            dist = bank.filter_complex(
                _VIF_WINDOWS[s], stride=2, index=slice(0, n)).real.contiguous()
    vif = num / den
    vif = torch.where(torch.isnan(vif), torch.ones_like(vif), vif)
    return vif[0] + vif[1]


def _impl_qabf(src, F, fcache):
    g_src, a_src = src._qabf()
    g_f, a_f = _sobel_qabf(F)
    nume = _qabf_weighted_sum(g_src, a_src, g_f, a_f)
    return (nume[0] + nume[1]) / src._qabf_weight()


def _impl_ssim(src, F, fcache):
    H, W = F.shape[-2:]
    if min(H, W) < 7:
        raise ValueError(f'SSIM needs images of at least 7x7 pixels, got {H}x{W}')
    ux, ux2c1, vx = src._ssim()
    uy = box_mean_valid(F, 7)
    uy2 = uy * uy
    vy_c2 = box_mean_valid(F * F, 7).sub_(uy2).mul_(_SSIM_COV_NORM).add_(src._ssim_c2())
    # numerator (2 ux uy + C1)(2 vxy + C2), vxy = cov_norm (E[xy] - ux uy)
    uxuy = ux * uy
    vxy2 = box_mean_valid(src._pair() * F, 7).sub_(uxuy).mul_(2 * _SSIM_COV_NORM)
    num = uxuy.mul_(2).add_(src._ssim_c1()).mul_(vxy2.add_(src._ssim_c2()))
    den = torch.add(ux2c1, uy2).mul_(torch.add(vx, vy_c2))
    ssim = _spatial_mean(num.div_(den))
    return ssim[0] + ssim[1]


def _normalized_spec(F: Tensor, fcache: dict) -> PackedSpectrum:
    """Spectrum of ``normalize1(F)``, shared by Qcb and Qcv."""
    return _fget(fcache, 'normalized_spec', lambda: PackedSpectrum(normalize1(F)))


def _impl_qcb(src, F, fcache):
    cp_src, lam = src._qcb()
    cfp = _qcb_masked_contrast(_csf_filter(_normalized_spec(F, fcache), 'qcb'))
    # Q_SF = (C'_S/C'_F).*mask + (C'_F/C'_S).*(1-mask), mask = C'_S < C'_F: VIFB's arithmetic
    # masks, kept literally, give NaN where an unused ratio is x/0 or 0/0 (as MATLAB does), so
    # constant or fully flat inputs give NaN.
    mask = (cp_src < cfp).to(torch.float64)
    q = torch.div(cp_src, cfp).mul_(mask)
    q.add_(torch.div(cfp, cp_src).mul_(mask.neg_().add_(1)))
    return _spatial_mean(q.mul_(lam).sum(0))


def _impl_qcv(src, F, fcache):
    sal, sal_total, csf_src = src._qcv()
    csf_f = _csf_filter(_normalized_spec(F, fcache), 'qcv')
    diff = torch.sub(csf_src, csf_f)  # the CSF filter is linear: csf(S) - csf(F) = csf(S - F)
    w = src.qcv_window
    dist = block_sum(diff.mul_(diff).flatten(0, 1), w).unflatten(0, (2, -1)).div_(w * w)
    return _spatial_sum(dist.mul_(sal).sum(0)) / sal_total


_METRIC_IMPL: Dict[str, Callable[[FusionSources, Tensor, dict], Tensor]] = {
    'EN': _impl_en,
    'SD': _impl_sd,
    'SF': _impl_sf,
    'AG': _impl_ag,
    'MI': _impl_mi,
    'SCD': _impl_scd,
    'CC': _impl_cc,
    'MSE': _impl_mse,
    'PSNR': _impl_psnr,
    'VIF': _impl_vif,
    'Qabf': _impl_qabf,
    'SSIM': _impl_ssim,
    'Qcb': _impl_qcb,
    'Qcv': _impl_qcv,
}


def compute_fusion_metrics(ir,
                           vis,
                           fused,
                           metrics: Optional[Iterable[str]] = None,
                           **options) -> Dict[str, Tensor]:
    """Compute several fusion metrics at once, sharing intermediates.

    Args:
        ir, vis, fused (Tensor): A, B, F; ``(N, H, W)`` or ``(H, W)``, grey levels 0..255,
            same shape and device.
        metrics: names (case-insensitive), default all of :data:`FUSION_METRIC_NAMES`.
        **options: ``ssim_data_range``, ``qcv_alpha``, ``qcv_window`` (see
            :class:`FusionSources`).

    Returns:
        dict[str, Tensor]: canonical name -> float64 ``(N,)`` (0-d for single images).
    """
    return FusionSources(ir, vis, **options).evaluate(fused, metrics)


def _no_ref(name: str):

    def fn(fused) -> Tensor:
        F, single = as_batch(fused, 'fused (F)')
        value = _METRIC_IMPL[name](None, F, {})
        return value[0] if single else value

    return fn


def _with_ref(name: str):

    def fn(ir, vis, fused, **options) -> Tensor:
        return FusionSources(ir, vis, **options).evaluate(fused, (name, ))[name]

    return fn


def _documented(fn, name: str, doc: str):
    fn.__name__ = fn.__qualname__ = f'fusion_{name.lower()}'
    fn.__doc__ = doc
    return fn


_SHAPES = """
    Shapes: ``(N, H, W)`` -> ``(N,)`` float64, or ``(H, W)`` -> 0-d; grey levels in 0..255."""

fusion_en = _documented(
    _no_ref('EN'), 'EN', """Entropy EN of the fused image, higher is better, range [0, 8] bits.

    ``-sum p log2 p`` over the 256-bin histogram of ``uint8(round(F))`` (values are clamped to
    0..255 first, where numpy's uint8 cast would wrap around).""" + _SHAPES)
fusion_sd = _documented(
    _no_ref('SD'), 'SD', """Standard deviation SD of F (population, ``np.std``), higher is
    better, range [0, 127.5].""" + _SHAPES)
fusion_sf = _documented(
    _no_ref('SF'), 'SF', """Spatial frequency SF, higher is better, >= 0.

    ``sqrt(mean((F[:,1:]-F[:,:-1])^2) + mean((F[1:,:]-F[:-1,:])^2))`` (each mean over its own
    number of differences).""" + _SHAPES)
fusion_ag = _documented(
    _no_ref('AG'), 'AG', """Average gradient AG, higher is better, >= 0.

    ``mean(sqrt((Gx^2 + Gy^2) / 2))`` with central differences ``(x[i+1]-x[i-1])/2`` inside and
    one-sided differences on the border (``np.gradient``). Needs H, W >= 2.""" + _SHAPES)
fusion_mi = _documented(
    _with_ref('MI'), 'MI', """Mutual information MI = I(F;A) + I(F;B) in nats, higher is better.

    Each term is scikit-learn's ``mutual_info_score`` on the pixel values taken as labels (one
    joint-histogram bin per pair of distinct values), so it is a sum over both sources, in
    nats (not bits) and without normalisation; range [0, 2 ln 256]. Integer grey levels use a
    dense 256x256 joint histogram; other values are labelled by their distinct values.""" + _SHAPES)
fusion_scd = _documented(
    _with_ref('SCD'), 'SCD', """SCD, the sum of the correlations of differences, higher is
    better.

    ``corr(B, F-A) + corr(A, F-B)`` (Pearson over all pixels), range [-2, 2]; NaN where an
    image or difference is constant.""" + _SHAPES)
fusion_cc = _documented(
    _with_ref('CC'), 'CC', """Correlation coefficient CC = ``(corr(A,F) + corr(B,F)) / 2``,
    higher is better, range [-1, 1]; NaN for constant images.""" + _SHAPES)
fusion_mse = _documented(
    _with_ref('MSE'), 'MSE', """Mean squared error MSE =
    ``(mean((A-F)^2) + mean((B-F)^2)) / 2``, LOWER is better, range [0, 65025].""" + _SHAPES)
fusion_psnr = _documented(
    _with_ref('PSNR'), 'PSNR', """Peak signal-to-noise ratio PSNR =
    ``10 log10(max(F)^2 / MSE)`` in dB with the MSE above, higher is better. The peak is the
    fused image's own maximum (not 255), as in the reference evaluator; +inf when MSE is
    0.""" + _SHAPES)
fusion_vif = _documented(
    _with_ref('VIF'), 'VIF', """Visual information fidelity VIF(A,F) + VIF(B,F), higher is
    better (each term ~[0, 1], can exceed 1 for contrast-enhanced F).

    Pixel-domain multi-scale VIF (Sheikh & Bovik's ``vifp``): 4 scales, Gaussian window of size
    N = 2^(5-s)+1 and sigma N/5; from scale 2 on the images are filtered ('valid') and
    downsampled by 2; local means, variances and covariance by 'valid' filtering; sigma_n^2 = 2,
    eps = 1e-10 with the usual clamping; VIF = sum of log10(1 + g^2 s1^2 / (sv^2 + sigma_n^2))
    over all scales divided by sum of log10(1 + s1^2 / sigma_n^2); NaN -> 1. Needs H, W >= 41.
    """ + _SHAPES)
fusion_qabf = _documented(
    _with_ref('Qabf'), 'Qabf', """Qabf, the Xydeas-Petrovic edge-transfer metric Q^{AB/F},
    higher is better, range [0, ~1].

    Sobel responses by true 2-D convolution with zero 'same' padding (x kernel
    [[-1,0,1],[-2,0,2],[-1,0,1]], y kernel [[1,2,1],[0,0,0],[-1,-2,-1]]); g = magnitude,
    alpha = atan(Sy/Sx) (pi/2 where Sx = 0); G = smaller/larger magnitude (the magnitude itself
    where they are equal, as the reference code does); A = 1 - |alpha_S - alpha_F| / (pi/2);
    Q_SF = 0.9994/(1+exp(-15(G-0.5))) * 0.9879/(1+exp(-22(A-0.8)));
    Q = sum(Q_AF g_A + Q_BF g_B) / sum(g_A + g_B).""" + _SHAPES)
fusion_ssim = _documented(
    _with_ref('SSIM'), 'SSIM', """SSIM = SSIM(F,A) + SSIM(F,B), higher is better, range [-2, 2].

    scikit-image ``structural_similarity`` defaults: 7x7 uniform window, sample covariance
    (49/48), K1 = 0.01, K2 = 0.03, mean over the map without the 3-pixel border; data_range
    ``ssim_data_range`` (default 255). Needs H, W >= 7.""" + _SHAPES)
fusion_qcb = _documented(
    _with_ref('Qcb'), 'Qcb', """Chen-Blum metric Qcb, higher is better, range [0, 1]
    (source: VIFB ``metricsQcb.m`` / Z. Liu's ``metricChenBlum.m``; Chen & Blum, Image and
    Vision Computing 27 (2009) 1421-1432).

    Each image is rescaled to 0..255 and rounded (VIFB ``normalize1``), filtered in the
    frequency domain with the DoG contrast-sensitivity function (f0 = 15.3870, f1 = 1.3456,
    a = 0.7622, frequencies scaled by W/30 and H/30); local contrast C = |G1*I / G2*I - 1| with
    31x31 Gaussians of sigma 2 and 4 (``filter2`` 'same', zero padding); masked contrast
    C' = C^3 / (C^2 + 1e-4); Q_SF = min/max ratio of C'_S and C'_F; saliency weights
    lambda_S = C'_S^2 / (C'_A^2 + C'_B^2); Q = mean(lambda_A Q_AF + lambda_B Q_BF). Returns NaN
    for constant images (as VIFB does).""" + _SHAPES)
fusion_qcv = _documented(
    _with_ref('Qcv'), 'Qcv', """Chen-Varshney metric Qcv, LOWER is better, >= 0 (source: VIFB
    ``metricsQcv.m`` / Z. Liu's ``metricChen.m``; Chen & Varshney, Information Fusion 8 (2007)
    193-207).

    Images rescaled by ``normalize1``; region saliency lambda_S = sum over each 16x16 region of
    |Sobel(S)|^alpha (``filter2`` 'same', zero padding); distortion D_S = mean over the region
    of the squared Mannos-Sakrison-CSF-filtered difference S - F (frequencies scaled by W/8 and
    H/8); regions are MATLAB ``blkproc`` tiles, partial tiles at the right/bottom zero-padded
    (their mean still divides by 16*16); Q = sum(lambda_A D_A + lambda_B D_B) /
    sum(lambda_A + lambda_B). Options ``qcv_window`` (16) and ``qcv_alpha`` (default 1 per the
    project spec; VIFB's code uses 5).""" + _SHAPES)

FUSION_METRIC_FUNCS: Dict[str, Callable] = {
    'EN': fusion_en,
    'SD': fusion_sd,
    'SF': fusion_sf,
    'AG': fusion_ag,
    'MI': fusion_mi,
    'SCD': fusion_scd,
    'CC': fusion_cc,
    'MSE': fusion_mse,
    'PSNR': fusion_psnr,
    'VIF': fusion_vif,
    'Qabf': fusion_qabf,
    'SSIM': fusion_ssim,
    'Qcb': fusion_qcb,
    'Qcv': fusion_qcv
}
__all__.append('FUSION_METRIC_FUNCS')
