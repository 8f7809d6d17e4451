"""Low-level batched operations shared by the fusion-quality metrics.

Every function works on float64 tensors of shape ``(N, H, W)`` (a batch of single-channel
images) on any device, and never mixes images of the batch (:class:`PackedSpectrum` shares
one complex FFT between two images, which linear filtering keeps apart exactly). float64 is
used on purpose: the metrics follow MATLAB / numpy code that computes in double precision,
and some of them (VIF's local variances, compared with a threshold of 1e-10) are not
reproducible in float32.
"""
import math
from typing import List, Optional, Sequence, Tuple

import torch

Tensor = torch.Tensor


def as_batch(x, name: str) -> Tuple[Tensor, bool]:
    """Turn ``x`` into a float64 batch ``(N, H, W)``.

    Args:
        x (Tensor | np.ndarray): ``(H, W)`` or ``(N, H, W)``, values in 0..255.
        name (str): Argument name used in error messages.

    Returns:
        tuple: The float64 tensor ``(N, H, W)`` (same device as ``x``) and whether ``x``
        was a single ``(H, W)`` image (the caller then returns 0-d results).
    """
    if not isinstance(x, torch.Tensor):
        x = torch.as_tensor(x)
    if x.dim() == 2:
        return x.to(torch.float64).unsqueeze(0), True
    if x.dim() != 3:
        raise ValueError(f'{name} must be a single-channel image (H, W) or a batch (N, H, W); '
                         f'got shape {tuple(x.shape)} (convert colour images to grey first, '
                         'e.g. with cldyn_mm.evaluation.load_grey)')
    if x.shape[0] == 0:
        raise ValueError(f'{name} is an empty batch (shape {tuple(x.shape)})')
    return x.to(torch.float64), False


def check_same_shape(named: Sequence[Tuple[str, Tensor]]) -> None:
    """Raise ``ValueError`` unless all ``(name, tensor)`` pairs have the same shape/device."""
    ref_name, ref = named[0]
    for name, t in named[1:]:
        if t.shape != ref.shape:
            raise ValueError(f'{name} has shape {tuple(t.shape)} but {ref_name} has shape '
                             f'{tuple(ref.shape)}; the fusion metrics need IR, VIS and fused '
                             'images of equal size')
        if t.device != ref.device:
            raise ValueError(f'{name} is on {t.device} but {ref_name} is on {ref.device}')


def sep_filter_valid(x: Tensor, k: Tensor, stride: int = 1) -> Tensor:
    """'valid' 2-D correlation of every image with the separable kernel ``outer(k, k)``.

    Args:
        x (Tensor): ``(..., H, W)`` float64.
        k (Tensor): 1-D kernel of length K.
        stride (int): Keep every ``stride``-th output row and column, starting with the first
            (``filtered[..., ::stride, ::stride]``) without computing the others.

    Returns:
        Tensor: ``(..., H-K+1, W-K+1)`` for stride 1. Implemented as a sum of shifted slices
        (faster than ``conv2d`` in float64 on CPU). The metrics use the FFT form
        :class:`ValidFilterBank`; this direct form is its test oracle.
    """
    K = k.numel()
    H, W = x.shape[-2:]
    if H < K or W < K:
        raise ValueError(f'image of size {H}x{W} is smaller than the {K}x{K} filter window')
    kv = [float(v) for v in k.cpu()]
    w_out = W - K + 1
    h_out = H - K + 1
    rows = x[..., :, 0:w_out:stride] * kv[0]
    for i in range(1, K):
        rows.add_(x[..., :, i:i + w_out:stride], alpha=kv[i])
    out = rows[..., 0:h_out:stride, :] * kv[0]
    for i in range(1, K):
        out.add_(rows[..., i:i + h_out:stride, :], alpha=kv[i])
    return out


def next_fast_len(n: int) -> int:
    """Smallest integer >= n whose only prime factors are 2, 3 and 5 (fast FFT sizes)."""
    m = n
    while True:
        r = m
        for p in (2, 3, 5):
            while r % p == 0:
                r //= p
        if r == 1:
            return m
        m += 1


_TRANSFER_CACHE: dict = {}


def _correlation_transfer(k: Tensor, n: int, device) -> Tensor:
    """Length-n DFT transfer function of the circular 1-D correlation with ``k``:
    ``sum_a k[a] x[(i + a) mod n]`` equals ``ifft(fft(x) * conj(fft(k zero-padded to n)))``."""
    kp = torch.zeros(n, dtype=torch.float64)
    kp[:k.numel()] = k.cpu()
    return torch.conj(torch.fft.fft(kp)).to(device)


def _separable_transfer(k: Tensor, hp: int, wp: int, device) -> Tensor:
    """Full 2-D DFT transfer function ``(hp, wp)`` of the circular 2-D correlation with
    ``outer(k, k)`` on an ``hp x wp`` grid (cached)."""
    key = (tuple(k.tolist()), hp, wp, str(device))
    transfer = _TRANSFER_CACHE.get(key)
    if transfer is None:
        ty = _correlation_transfer(k, hp, device)
        tx = _correlation_transfer(k, wp, device)
        transfer = ty[:, None] * tx[None, :]
        if len(_TRANSFER_CACHE) > 64:
            _TRANSFER_CACHE.clear()
        _TRANSFER_CACHE[key] = transfer
    return transfer


class PackedSpectrum:
    """2-D DFT of a batch of real images, two images per complex transform.

    The flattened batch ``x_0 .. x_{M-1}`` is packed as ``z_j = x_j + i x_{m+j}`` with
    ``m = ceil(M / 2)`` (a zero image completes an odd batch) and transformed with one complex
    FFT per pair. Filtering by a *real* linear filter (a transfer function whose impulse
    response is real) then gives ``filter(x_j) + i filter(x_{m+j})`` after one inverse complex
    FFT, so both filtered images come out of one transform. On CPU a complex FFT of two packed
    images costs about the same as one real FFT, and much less than PyTorch's real inverse
    FFT, so this halves the cost of FFT filtering. Rounding: ~1e-16 relative to the largest
    magnitude of the two packed images.

    Args:
        x (Tensor): ``(..., H, W)`` float64.
        size (tuple, optional): FFT size ``(hp, wp) >= (H, W)`` (zero padding at the bottom
            and right); default ``(H, W)`` (circular filtering of the images themselves).
    """

    def __init__(self, x: Tensor, size: Optional[Tuple[int, int]] = None):
        self.lead = x.shape[:-2]
        self.H, self.W = x.shape[-2:]
        self.size = (self.H, self.W) if size is None else tuple(size)
        flat = x.reshape((-1, self.H, self.W))
        self.M = flat.shape[0]
        m = (self.M + 1) // 2
        self.m = m
        imag = flat[m:]
        if imag.shape[0] < m:
            imag = torch.cat((imag, imag.new_zeros((m - imag.shape[0], self.H, self.W))))
        self.spec = torch.fft.fft2(torch.complex(flat[:m], imag), s=self.size)

    @classmethod
    def from_complex(cls, z: Tensor, size: Optional[Tuple[int, int]] = None):
        """Transform images the caller has already packed as ``z = x + i y`` (complex
        ``(..., H, W)``); use :meth:`apply_complex` to get ``filter(x) + i filter(y)``."""
        self = cls.__new__(cls)
        self.lead = z.shape[:-2]
        self.H, self.W = z.shape[-2:]
        self.size = (self.H, self.W) if size is None else tuple(size)
        self.M = self.m = None
        self.spec = torch.fft.fft2(z, s=self.size)
        return self

    def apply_complex(self,
                      transfer: Tensor,
                      rows: slice = slice(None),
                      cols: slice = slice(None),
                      index=None) -> Tensor:
        """``filter(x) + i filter(y)`` of the packed images (``[index]`` of them), cropped to
        ``[..., rows, cols]``: a complex view whose ``.real`` and ``.imag`` are the results."""
        spec = self.spec if index is None else self.spec[index]
        return torch.fft.ifft2(spec * transfer)[..., rows, cols]

    def apply(self,
              transfer: Tensor,
              rows: slice = slice(None),
              cols: slice = slice(None),
              first: Optional[int] = None) -> Tensor:
        """Filter with ``transfer`` (full spectrum ``size``, of a real impulse response) and
        return ``filtered[..., rows, cols]`` in the original batch shape.

        Args:
            first (int, optional): only the first ``first <= ceil(M/2)`` images of the
                flattened batch, returned as ``(first, h, w)`` (one complex inverse FFT each,
                half of it unused).
        """
        if first is not None:
            if first > self.m:
                raise ValueError(f'first={first} > {self.m} packed images')
            out = torch.fft.ifft2(self.spec[:first] * transfer)[..., rows, cols]
            return out.real.contiguous()
        z = torch.fft.ifft2(self.spec * transfer)[..., rows, cols]
        out = torch.cat((z.real, z.imag))[:self.M]
        return out.reshape(self.lead + out.shape[-2:])


class ValidFilterBank:
    """'valid' 2-D correlations of a batch with separable kernels ``outer(k, k)`` via one
    forward FFT (:class:`PackedSpectrum`, two real images per complex transform).

    The batch is transformed once (zero-padded to a fast FFT size ``>= (H, W)``); each
    :meth:`filter` call is one inverse FFT. The circular correlation on the padded grid equals
    the 'valid' correlation on the first ``H-K+1`` rows and ``W-K+1`` columns (no wrap-around
    reaches them). Same results as :func:`sep_filter_valid` up to rounding (~1e-16 relative to
    the largest value).

    Args:
        x (Tensor): ``(..., H, W)`` float64.
    """

    def __init__(self, x: Tensor, packed: bool = False):
        self.H, self.W = x.shape[-2:]
        self.hp, self.wp = next_fast_len(self.H), next_fast_len(self.W)
        self.device = x.device
        if packed:
            self.packed = PackedSpectrum.from_complex(x, (self.hp, self.wp))
        else:
            self.packed = PackedSpectrum(x, (self.hp, self.wp))

    @classmethod
    def from_complex(cls, z: Tensor) -> 'ValidFilterBank':
        """A bank for real images packed by the caller as ``z = x + i y``; see
        :meth:`filter_complex`."""
        return cls(z, packed=True)

    def _transfer(self, k: Tensor) -> Tensor:
        K = k.numel()
        if self.H < K or self.W < K:
            raise ValueError(f'image of size {self.H}x{self.W} is smaller than the {K}x{K} '
                             'filter window')
        return _separable_transfer(k, self.hp, self.wp, self.device)

    def filter_complex(self, k: Tensor, stride: int = 1, index=None) -> Tensor:
        """For a bank made by :meth:`from_complex`: ``filter(x) + i filter(y)`` cropped to the
        'valid' region (every ``stride``-th row/column), as a complex view.

        With ``stride=2`` on an even FFT grid the samples ``filtered[::2, ::2]`` are computed
        directly by an inverse FFT of a quarter of the size: sampling every second point in
        space folds the spectrum, ``D[k, l] = sum_{a, b in {0, 1}} Y[k + a hp/2,
        l + b wp/2] / 4``.
        """
        K = k.numel()
        transfer = self._transfer(k)
        rows, cols = slice(0, self.H - K + 1, stride), slice(0, self.W - K + 1, stride)
        if stride == 2 and self.hp % 2 == 0 and self.wp % 2 == 0:
            spec = self.packed.spec if index is None else self.packed.spec[index]
            prod = spec * transfer
            hh, wh = self.hp // 2, self.wp // 2
            folded = prod.unflatten(-1, (2, wh)).sum(-2).unflatten(-2, (2, hh)).sum(-3)
            out = torch.fft.ifft2(folded.mul_(0.25))
            return out[..., :(self.H - K + 2) // 2, :(self.W - K + 2) // 2]
        return self.packed.apply_complex(transfer, rows, cols, index)

    def filter(self, k: Tensor, stride: int = 1, first: Optional[int] = None) -> Tensor:
        """Correlate with ``outer(k, k)``.

        Args:
            k (Tensor): 1-D kernel of length K.
            stride (int): keep ``filtered[..., ::stride, ::stride]``.
            first (int, optional): filter only the first ``first`` images of the flattened
                batch (at most half of it, rounded up); the result is then
                ``(first, h, w)``.

        Returns:
            Tensor: ``(..., ceil((H-K+1)/stride), ceil((W-K+1)/stride))``.
        """
        K = k.numel()
        transfer = self._transfer(k)
        return self.packed.apply(transfer, slice(0, self.H - K + 1, stride),
                                 slice(0, self.W - K + 1, stride), first)


def fft_sep_filter_valid(x: Tensor, kernels: Sequence[Tensor]) -> List[Tensor]:
    """'valid' 2-D correlations of every image with several separable kernels
    ``outer(k, k)``, sharing one forward real FFT (see :class:`ValidFilterBank`).

    Args:
        x (Tensor): ``(..., H, W)`` float64.
        kernels: 1-D kernels.

    Returns:
        list[Tensor]: one ``(..., H-K+1, W-K+1)`` tensor per kernel.
    """
    H, W = x.shape[-2:]
    for k in kernels:
        if H < k.numel() or W < k.numel():
            raise ValueError(f'image of size {H}x{W} is smaller than the '
                             f'{k.numel()}x{k.numel()} filter window')
    bank = ValidFilterBank(x)
    return [bank.filter(k) for k in kernels]


def box_mean_valid(x: Tensor, K: int) -> Tensor:
    """Mean over every ``K x K`` window ('valid'), ``(..., H, W) -> (..., H-K+1, W-K+1)``.

    Equal to :func:`sep_filter_valid` with the uniform kernel ``1/K`` up to rounding, computed
    with running sums (two cumulative sums and two differences, independent of K). In float64
    the running sums of 0..255 grey levels (or their squares) lose at most ~1e-8 absolute.
    """
    H, W = x.shape[-2:]
    if H < K or W < K:
        raise ValueError(f'image of size {H}x{W} is smaller than the {K}x{K} filter window')
    c = torch.cumsum(x, dim=-1)
    rows = c[..., K - 1:].clone()
    rows[..., 1:].sub_(c[..., :-K])
    c = torch.cumsum(rows, dim=-2)
    out = c[..., K - 1:, :].clone()
    out[..., 1:, :].sub_(c[..., :-K, :])
    return out.div_(K * K)


def fft_sep_filter_same_zero(x: Tensor, kernels: Sequence[Tensor]) -> List[Tensor]:
    """MATLAB ``filter2(outer(k, k), x, 'same')`` (zero padding, odd ``k``) for several kernels
    of equal length via :func:`fft_sep_filter_valid`."""
    p = kernels[0].numel() // 2
    if any(k.numel() != 2 * p + 1 for k in kernels):
        raise ValueError('fft_sep_filter_same_zero needs kernels of one odd length')
    return fft_sep_filter_valid(torch.nn.functional.pad(x, (p, p, p, p)), kernels)


def conv3x3_same_zero(x: Tensor, kernel: Sequence[Sequence[float]]) -> Tensor:
    """'same' 2-D *correlation* with a 3x3 kernel and zero padding, as shifted slices.

    Args:
        x (Tensor): ``(..., H, W)``.
        kernel: 3x3 nested sequence; ``kernel[i][j]`` multiplies ``x[y+i-1, x+j-1]``.
    """
    H, W = x.shape[-2:]
    xp = torch.nn.functional.pad(x, (1, 1, 1, 1))
    out = torch.zeros_like(x)
    for i in range(3):
        for j in range(3):
            c = float(kernel[i][j])
            if c != 0.0:
                out.add_(xp[..., i:i + H, j:j + W], alpha=c)
    return out


def sobel_same_zero(x: Tensor) -> Tuple[Tensor, Tensor]:
    """Sobel responses with zero 'same' padding, computed separably.

    Returns ``(sx, sy)``: the 2-D *correlations* of ``x`` with
    ``[[1, 0, -1], [2, 0, -2], [1, 0, -1]]`` (= ``[1, 2, 1]^T (x) [1, 0, -1]``) and with
    ``[[-1, -2, -1], [0, 0, 0], [1, 2, 1]]`` (= ``[-1, 0, 1]^T (x) [1, 2, 1]``). Equal to
    :func:`conv3x3_same_zero` with those kernels (exactly for integer images, whose sums are
    exact in float64).
    """
    xp = torch.nn.functional.pad(x, (1, 1, 1, 1))
    d = xp[..., :, :-2] - xp[..., :, 2:]  # (H+2, W): [1, 0, -1] along rows
    sx = d[..., 1:-1, :] * 2
    sx.add_(d[..., :-2, :]).add_(d[..., 2:, :])
    e = xp[..., :, 1:-1] * 2  # [1, 2, 1] along rows
    e.add_(xp[..., :, :-2]).add_(xp[..., :, 2:])
    sy = e[..., 2:, :] - e[..., :-2, :]
    return sx, sy


def freqspace_meshgrid(H: int, W: int, device=None) -> Tuple[Tensor, Tensor]:
    """MATLAB ``[u, v] = freqspace([H, W], 'meshgrid')``: centred frequency grids in [-1, 1).

    Returns:
        tuple: ``u`` (varies along columns) and ``v`` (along rows), both ``(H, W)`` float64;
        ``u[:, j] = (j - floor(W/2)) * 2 / W``, ``v[i, :] = (i - floor(H/2)) * 2 / H``.
    """
    f1 = (torch.arange(W, dtype=torch.float64, device=device) - W // 2) * (2.0 / W)
    f2 = (torch.arange(H, dtype=torch.float64, device=device) - H // 2) * (2.0 / H)
    v, u = torch.meshgrid(f2, f1, indexing='ij')
    return u, v


def fft_response(response: Tensor) -> Tensor:
    """A response given on the centred ``freqspace`` grid ``(H, W)`` as the multiplier of the
    unshifted spectrum ``fft2(x)`` (MATLAB ``ifftshift``)."""
    return torch.fft.ifftshift(response, dim=(-2, -1)).contiguous()


def centred_filter_real(x: Tensor, response: Tensor) -> Tensor:
    """MATLAB ``real(ifft2(ifftshift(fftshift(fft2(x)) .* response)))`` for a radial response.

    ``response`` is given on the centred ``freqspace`` grid ``(H, W)``. The responses used here
    depend on ``|u|`` and ``|v|`` only, so the shifted response is Hermitian-symmetric and the
    MATLAB result is real up to rounding (its imaginary part is ~1e-13 of the real part); the
    real part is computed directly (:class:`PackedSpectrum`), sharing one transform between
    two images.
    """
    return PackedSpectrum(x).apply(fft_response(response))


def normalize1(x: Tensor) -> Tensor:
    """VIFB's ``normalize1``: per image, ``round((x - min) / (max - min) * 255)``.

    An all-zero image is returned unchanged. A constant non-zero image gives NaN everywhere
    (0/0), as in the MATLAB code; the metrics using it then return NaN for that image.
    """
    flat = x.flatten(-2)
    mx = flat.amax(-1)[..., None, None]
    mn = flat.amin(-1)[..., None, None]
    out = torch.round((x - mn) / (mx - mn) * 255.0)
    keep = ((mx == 0) & (mn == 0)).expand_as(x)
    return torch.where(keep, x, out)


def block_sum(x: Tensor, block: int) -> Tensor:
    """Sum over non-overlapping ``block x block`` tiles, zero-padding the right/bottom border.

    Equivalent to MATLAB ``blkproc(x, [block block], @(b) sum(b(:)))``, which pads partial
    tiles with zeros. ``(N, H, W) -> (N, ceil(H/block), ceil(W/block))``.
    """
    N, H, W = x.shape
    hb, wb = math.ceil(H / block), math.ceil(W / block)
    xp = torch.nn.functional.pad(x, (0, wb * block - W, 0, hb * block - H))
    return xp.reshape(N, hb, block, wb, block).sum(dim=(2, 4))


def batched_bincount(idx: Tensor, size: int) -> Tensor:
    """Histogram per image: ``idx`` int64 ``(N, P)`` with values in ``[0, size)`` -> ``(N, size)``
    float64 counts."""
    N = idx.shape[0]
    offset = torch.arange(N, device=idx.device, dtype=torch.int64)[:, None] * size
    counts = torch.bincount((idx + offset).reshape(-1), minlength=N * size)
    return counts.reshape(N, size).to(torch.float64)


def integer_levels(x: Tensor) -> Optional[Tensor]:
    """``x`` as int64 grey levels if every value is an integer in 0..255, else ``None``."""
    if x.numel() == 0:
        return None
    if bool(((x != torch.round(x)) | (x < 0) | (x > 255)).any()):
        return None
    return x.to(torch.int64)
