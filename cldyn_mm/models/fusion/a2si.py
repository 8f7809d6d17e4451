"""A2SI, the adaptive semantic injection block of RSC (spec section 3, steps 1-8), batched.

Shapes (defaults): B batch, C = in_channels = 8, K = filter_num = 4, S = set_num = 4,
V = vector_num = 32, D = embed_dim = 256, L = C_t * H_t * W_t (the flattened task feature).

    task feature T (B_t, C_t, H_t, W_t), B_t in {1, B}  --encode_task-->  TaskCodes
    feature f (B, C, H, W), bank (S, V, D)  --forward-->  f + zero_conv(mean_k filter_k(f))

The research code ran steps 6 and 7 in Python loops over samples and filters; here they are
tensor operations over the whole batch and one grouped convolution per kernel shape. See
docs/rsc.md for the batching scheme and the gradient behaviour of the hard selection.
"""
from typing import List, NamedTuple, Optional, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule, Sequential
from torch import Tensor

from cldyn_mm.registry import MODELS
from .bvb import orthogonal_rows
from .layers import InitCfg, LegacyKeysMixin, conv_block, is_conv_block

SELECTION_MODES = ('hard', 'soft')


class TaskSequence(NamedTuple):
    """A task feature flattened per sample, shared by every A2SI block of both chains.

    ``raw`` (B_t, L) is T flattened; ``normed`` (B_t, L) is ``raw`` divided by its per-sample
    global RMS (+ 1e-8), the input of the basis filter's task embedding (step 6).
    """
    raw: Tensor
    normed: Tensor


class TaskCodes(NamedTuple):
    """What one A2SI block derives from T alone: ``set_code`` (B_t, P/2) for the set choice
    (step 1) and ``query_code`` (B_t, D/2) for the basis filter (step 6)."""
    set_code: Tensor
    query_code: Tensor

    def expand_to(self, batch: int) -> 'TaskCodes':
        """Broadcast codes of one task feature (B_t = 1) over a batch of ``batch`` images."""
        n = self.set_code.shape[0]
        if n == batch:
            return self
        if n != 1:
            raise ValueError(f'the task feature has batch {n} but the image batch is {batch}; '
                             'give one task feature per image or a single one for all')
        return TaskCodes(self.set_code.expand(batch, -1), self.query_code.expand(batch, -1))


def task_sequence(task_feat: Tensor, eps: float = 1e-8) -> TaskSequence:
    """Flatten a task feature (B_t, ...) per sample and RMS-normalise it (see TaskSequence)."""
    if task_feat.dim() < 2:
        raise ValueError('a task feature must have a batch dimension, shape (B, C, H, W) or '
                         f'(B, N, ...), got {tuple(task_feat.shape)}')
    raw = task_feat.flatten(1)
    rms = raw.pow(2).mean(dim=1, keepdim=True).sqrt()
    return TaskSequence(raw, raw / (rms + eps))


class TaskSequenceEncoder(BaseModule):
    """Conv1d(1 -> hidden, k3, p1, no bias), LReLU(0.2), Conv1d(hidden -> out, k3, p1, no bias),
    mean over the length: (B, L) -> (B, out).

    Computed without the (B, hidden, L) and (B, out, L) tensors (L is 10^5 or more for real
    task features), with the same result up to float rounding:

    * the first convolution has one input channel: over a chunk of positions it is a (hidden,
      3) x (3, n) matrix product with the three shifted copies of the sequence; the chunks
      (``chunk`` positions) keep the hidden activation small and in cache;
    * the second convolution is linear and followed by a mean, so it is applied to three sums
      of the hidden activation (tap 0 sees all positions but the last, tap 1 all, tap 2 all but
      the first; zero padding) instead of to every position.
    """

    chunk = 1 << 14

    def __init__(self, hidden_channels: int, out_channels: int, init_cfg: InitCfg = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.conv1 = nn.Conv1d(1, hidden_channels, 3, padding=1, bias=False)
        self.conv2 = nn.Conv1d(hidden_channels, out_channels, 3, padding=1, bias=False)

    def forward(self, seq: Tensor) -> Tensor:
        length = seq.shape[-1]
        weight = self.conv1.weight[:, 0]  # (hidden, 3)
        padded = F.pad(seq, (1, 1))
        total = first = last = None
        for start in range(0, length, self.chunk):  # chunks of positions, not samples
            stop = min(start + self.chunk, length)
            window = torch.stack([padded[:, start + i:stop + i] for i in range(3)], dim=1)
            h = F.leaky_relu(
                torch.matmul(weight.to(window.dtype), window), 0.2, inplace=True)  # (B, hidden, n)
            part = h.sum(-1, dtype=torch.float32)
            total = part if total is None else total + part
            if start == 0:
                first = h[..., 0].float()
            if stop == length:
                last = h[..., -1].float()
        taps = torch.stack((total - last, total, total - first), dim=-1)  # (B, hidden, 3)
        out = torch.einsum('bck,ock->bo', taps, self.conv2.weight.to(taps.dtype)) / length
        return out.to(seq.dtype)


def _use_channels_last(x: Tensor) -> bool:
    """Run the image convolutions of A2SI in channels-last format: on CPU, oneDNN's 3x3
    convolutions are markedly faster in it (see docs/rsc.md); elsewhere keep the input's."""
    return x.device.type == 'cpu' and x.dim() == 4


def _fold_bn(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> Tuple[Tensor, Tensor]:
    """Weight and bias of ``conv`` followed by ``bn`` in eval mode (running statistics)."""
    scale = bn.weight * torch.rsqrt(bn.running_var + bn.eps)
    bias = bn.bias - bn.running_mean * scale
    if conv.bias is not None:
        bias = bias + conv.bias * scale
    return conv.weight * scale.view(-1, 1, 1, 1), bias


# filter_responses on the CPU: dynamic convolutions in channels-last format
DYNAMIC_CHANNELS_LAST = True
# pooled_conv_stack on the CPU: target size (elements) of one row chunk of the widest feature
# map, and the fewest rows per chunk
CHUNK_ELEMENTS = 1 << 22
MIN_CHUNK_ROWS = 8


def _folded_stages(layers: nn.Module) -> Optional[List[Tuple[Tensor, Tensor, float]]]:
    """``[(weight, bias, slope)]`` with BN folded when ``layers`` is a ``ConvModule`` or a
    Sequential of them, each Conv2d 3x3 (stride 1, padding 1, dilation 1, zero padding) ->
    BatchNorm2d in eval mode with running statistics -> LeakyReLU; None otherwise (e.g. in
    training mode, where BN uses batch statistics)."""
    if isinstance(layers, ConvModule):
        mods = [layers]
    else:
        mods = list(layers) if isinstance(layers, nn.Sequential) else []
    if not mods:
        return None
    stages = []
    for mod in mods:
        if not is_conv_block(mod):
            return None
        conv, bn, act = mod.conv, mod.norm, mod.activate if mod.with_activation else None
        if not (type(conv) is nn.Conv2d and conv.kernel_size == (3, 3) and conv.stride == (1, 1)
                and conv.padding == (1, 1) and conv.dilation == (1, 1) and conv.groups == 1 and
                conv.padding_mode == 'zeros' and isinstance(bn, nn.BatchNorm2d) and not bn.training
                and bn.running_mean is not None and isinstance(act, nn.LeakyReLU)):
            return None
        weight, bias = _fold_bn(conv, bn)
        stages.append((weight, bias, act.negative_slope))
    return stages


def _row_slice(x: Tensor, lo: int, hi: int) -> Tensor:
    """Rows [lo, hi) of ``x`` (B, C, H, W), zero rows where they fall outside [0, H)."""
    height = x.shape[2]
    part = x[:, :, max(lo, 0):min(hi, height)]
    top, bottom = max(0, -lo), max(0, hi - height)
    return F.pad(part, (0, 0, top, bottom)) if top or bottom else part


def pooled_conv_stack(layers: nn.Module, x: Tensor) -> Tensor:
    """Global average pool of ``layers(x)``: (B, C_in, H, W) -> (B, C_out).

    ``layers`` is a ``ConvModule`` (conv, BN, LeakyReLU) or a Sequential of them. In training
    mode (or for layers of another form) it runs as it is. In eval mode the BNs are folded into the
    convolutions and the activations run in place; on the CPU the stack is computed in chunks
    of rows (each chunk with the halo rows its 3x3 convolutions need, zero rows at the image
    border, so the result is the same up to float rounding): the full-resolution maps (64 and
    128 channels for the basis filter's image embedding) never exist at once, and each chunk's
    activation and pooling read it from cache.
    """
    stages = _folded_stages(layers)
    if stages is None:
        return layers(x).mean((2, 3))
    batch, _, height, width = x.shape
    widest = max(w.shape[0] for w, _, _ in stages)
    rows = max(MIN_CHUNK_ROWS, CHUNK_ELEMENTS // max(1, batch * widest * width))
    if x.device.type != 'cpu' or rows >= height:
        for weight, bias, slope in stages:
            x = F.leaky_relu(F.conv2d(x, weight, bias, padding=1), slope, inplace=True)
        return x.mean((2, 3))
    depth = len(stages)
    total = None
    for r0 in range(0, height, rows):  # chunks of rows, not samples
        r1 = min(r0 + rows, height)
        # cur holds rows [lo, ...) of the current stage's input (valid image rows only); each
        # stage needs one halo row per side, zero rows beyond the image border
        lo = max(r0 - depth, 0)
        cur = x[:, :, lo:min(r1 + depth, height)]
        for j, (weight, bias, slope) in enumerate(stages):
            out_lo = max(r0 - (depth - 1 - j), 0)
            out_hi = min(r1 + (depth - 1 - j), height)
            cur = _row_slice(cur, out_lo - 1 - lo, out_hi + 1 - lo)
            cur = F.leaky_relu(F.conv2d(cur, weight, bias, padding=(0, 1)), slope, inplace=True)
            lo = out_lo
        part = cur.sum((2, 3), dtype=torch.float32)
        total = part if total is None else total + part
    return (total / (height * width)).to(cur.dtype)


def _mlp(in_dim: int, hidden: int, out_dim: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(in_dim, hidden), nn.LayerNorm(hidden), nn.ReLU(inplace=True),
        nn.Linear(hidden, out_dim))


class SetSelector(LegacyKeysMixin, BaseModule):
    """Steps 1-4: per-filter logits over the S sets from T and the feature map.

    task code (B, P/2) [from ``task_code``] and image code GAP(LReLU(BN(conv3x3(f)))) (B, P/2)
    [``img_code``, a ConvModule with a conv without bias]
    -> ``joint`` MLP -> (B, P, K) -> cosine to each row of the prototype matrix
    ``prototypes`` (S, P), a parameter initialised orthogonal -> logits (B, K, S) in [-1, 1].
    P = proto_dim = 16.
    """

    _legacy_renames = {'img_code.0': 'img_code.conv', 'img_code.1': 'img_code.bn'}

    def __init__(self,
                 in_channels: int = 8,
                 filter_num: int = 4,
                 set_num: int = 4,
                 proto_dim: int = 16,
                 init_cfg: InitCfg = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if proto_dim % 4:
            raise ValueError(f'proto_dim must be a multiple of 4, got {proto_dim}')
        self.filter_num = filter_num
        self.proto_dim = proto_dim
        half = proto_dim // 2
        self.task_code = TaskSequenceEncoder(proto_dim // 4, half)
        self.img_code = conv_block(in_channels, half, bias=False)
        self.joint = _mlp(proto_dim, int(filter_num * proto_dim / 2), filter_num * proto_dim)
        # "meant as fixed", but the research code's closed loop trains them (spec section 3
        # item 4, section 4): a parameter; ClosedLoopCLDyN(freeze_prototypes=True) keeps them
        # fixed. Same state-dict key as when this was a buffer, so older checkpoints load.
        self.prototypes = nn.Parameter(orthogonal_rows(set_num, proto_dim))

    def forward(self, set_code: Tensor, feat: Tensor) -> Tensor:
        img = pooled_conv_stack(self.img_code, feat)
        joint = self.joint(torch.cat((set_code.to(img.dtype), img), dim=1))
        joint = F.normalize(joint.view(-1, self.proto_dim, self.filter_num), dim=1, eps=1e-8)
        protos = F.normalize(self.prototypes, dim=-1, eps=1e-8)
        return torch.einsum('sp,bpk->bks', protos.to(joint.dtype), joint)


class BasisFilter(LegacyKeysMixin, BaseModule):
    """Step 6, the query: q = MLP(cat(task embedding, image embedding)), (B, D).

    Task embedding: :class:`TaskSequenceEncoder` (1 -> D/4 -> D/2) on the RMS-normalised T.
    Image embedding: GAP(LReLU(BN(conv3x3 D/4 -> D/2)(LReLU(BN(conv3x3 C -> D/4)(f))))),
    ``img_embed``: two ConvModules with convs without bias.
    The selection of vectors with q is :func:`select_basis_vectors`.
    """

    _legacy_renames = {
        'img_embed.0': 'img_embed.0.conv',
        'img_embed.1': 'img_embed.0.bn',
        'img_embed.3': 'img_embed.1.conv',
        'img_embed.4': 'img_embed.1.bn'
    }

    def __init__(self,
                 embed_dim: int = 256,
                 in_channels: int = 8,
                 init_cfg: InitCfg = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if embed_dim % 4:
            raise ValueError(f'embed_dim must be a multiple of 4, got {embed_dim}')
        quarter, half = embed_dim // 4, embed_dim // 2
        self.task_embed = TaskSequenceEncoder(quarter, half)
        self.img_embed = Sequential(
            conv_block(in_channels, quarter, bias=False), conv_block(quarter, half, bias=False))
        self.query = _mlp(embed_dim, quarter, embed_dim)

    def forward(self, query_code: Tensor, feat: Tensor) -> Tensor:
        img = pooled_conv_stack(self.img_embed, feat)
        return self.query(torch.cat((query_code.to(img.dtype), img), dim=1))


def choose_sets(logits: Tensor,
                training: bool,
                tau: float,
                set_choice: Optional[Tensor] = None,
                noise: bool = True) -> Tuple[Tensor, Tensor]:
    """Step 4: one set per filter.

    Args:
        logits (Tensor): (B, K, S) cosine logits.
        training (bool): Sample with Gumbel noise (straight-through Gumbel-softmax, ``tau``)
            when True (and ``noise``); take the argmax (deterministic) when False.
        tau (float): Softmax temperature.
        set_choice (Tensor, optional): (B, K) integer sets in [0, S) that replace the choice
            (tests, analysis); the straight-through gradient still uses softmax(logits / tau).
        noise (bool): In training, add the Gumbel noise. False: training takes the argmax
            with the straight-through softmax gradient (deterministic training).

    Returns:
        tuple: ``weights`` (B, K, S), exactly one-hot in value with the straight-through
        gradient of the soft distribution (``hard + soft - soft.detach()``), and ``index``
        (B, K) int64, the chosen sets.
    """
    num_sets = logits.shape[-1]
    if set_choice is not None:
        if set_choice.shape != logits.shape[:2]:
            raise ValueError(f'set_choice must have shape {tuple(logits.shape[:2])} (B, K), got '
                             f'{tuple(set_choice.shape)}')
        if set_choice.numel() and (set_choice.min() < 0 or set_choice.max() >= num_sets):
            raise ValueError(f'set_choice values must be in [0, {num_sets})')
        index = set_choice.to(device=logits.device, dtype=torch.long)
        soft = torch.softmax(logits.float() / tau, dim=-1)
    elif training and noise:
        soft = F.gumbel_softmax(logits.float(), tau=tau, hard=False, dim=-1)
        index = soft.argmax(-1)
    else:
        soft = torch.softmax(logits.float() / tau, dim=-1)
        index = logits.argmax(-1)
    hard = F.one_hot(index, num_sets).to(soft.dtype)
    return hard + (soft - soft.detach()), index


def rank_within_set(set_index: Tensor) -> Tuple[Tensor, Tensor]:
    """For (B, K) set choices: ``rank`` (B, K), how many lower-index filters of the same sample
    chose the same set, and ``first`` (B, K), the lowest filter index that chose it."""
    num_filters = set_index.shape[1]
    ar = torch.arange(num_filters, device=set_index.device)
    same = set_index[:, :, None] == set_index[:, None, :]  # (B, K, K)
    rank = (same & (ar[None, :] < ar[:, None])).sum(-1)
    first = torch.where(same, ar, num_filters).amin(-1)
    return rank, first


def select_basis_vectors(query: Tensor,
                         bank: Tensor,
                         set_weights: Tensor,
                         set_index: Tensor,
                         mode: str = 'hard',
                         temperature: float = 0.1) -> Tensor:
    """Step 6, the selection: one basis vector per filter, batched.

    For each sample and set s, the filters that chose s are ranked by filter index; the filter
    of rank r takes the vector of set s with the (r+1)-th largest cosine similarity to the query
    (``'hard'``: the research code's top-n, n = number of filters that chose s). As in the
    research code, the chosen vector is read from the bank rows multiplied by the set-choice
    weights of the first filter (lowest index) that chose s: ``sum_s' w[b, first, s'] *
    bank[s', v]``. In value that is ``bank[s, v]``; in gradient, the bank rows and the
    straight-through set choice receive gradient, while the query (and the parameters that
    make it) receive none, because the choice of v is a hard index.

    ``'soft'`` replaces the one-hot pick of v by ``softmax(cos / temperature)`` over the set's
    vectors, with the vectors of the lower-ranked filters of the same set masked out, so the
    query and its parameters get gradient; as ``temperature -> 0`` it tends to ``'hard'``.

    Args:
        query (Tensor): (B, D).
        bank (Tensor): (S, V, D).
        set_weights (Tensor): (B, K, S), from :func:`choose_sets`.
        set_index (Tensor): (B, K) int64.
        mode (str): ``'hard'`` or ``'soft'``.
        temperature (float): Softmax temperature of ``'soft'``.

    Returns:
        Tensor: (B, K, D), the basis vector of every filter.
    """
    if mode not in SELECTION_MODES:
        raise ValueError(f'selection must be one of {SELECTION_MODES}, got {mode!r}')
    batch, num_filters = set_index.shape
    num_sets, num_vectors, dim = bank.shape
    ar = torch.arange(num_filters, device=set_index.device)
    rank, first = rank_within_set(set_index)

    sims = F.normalize(
        query, dim=-1) @ F.normalize(
            bank, dim=-1).reshape(-1, dim).t().to(query.dtype)
    sims = sims.view(batch, num_sets, num_vectors)  # (B, S, V)
    order = sims.topk(num_filters, dim=-1).indices  # (B, S, K), best first
    order = order.gather(1, set_index[..., None].expand(-1, -1, num_filters))  # (B, K, K)
    if mode == 'hard':
        chosen = order.gather(2, rank[..., None]).squeeze(-1)  # (B, K)
        pick = F.one_hot(chosen, num_vectors).to(bank.dtype)  # (B, K, V)
    else:
        set_sims = sims.gather(1, set_index[..., None].expand(-1, -1, num_vectors))  # (B,K,V)
        taken = (ar[None, None, :] < rank[..., None]).to(set_sims.dtype)  # (B, K, K)
        excluded = torch.zeros_like(set_sims).scatter_add_(2, order, taken) > 0
        pick = torch.softmax(set_sims.masked_fill(excluded, float('-inf')) / temperature, -1)
    lead_weights = set_weights.gather(1, first[..., None].expand(-1, -1, num_sets))  # (B, K, S)
    per_set = torch.einsum('bkv,svd->bksd', pick.to(bank.dtype), bank)  # (B, K, S, D)
    return torch.einsum('bks,bksd->bkd', lead_weights.to(per_set.dtype), per_set)


def set_dilation(set_index: int) -> int:
    """Dilation of the 3x3 kernels of set ``set_index`` >= 1 (research: 1 + (s - 1) % 3)."""
    return 1 + (set_index - 1) % 3


def slot_conv(x: Tensor,
              kernels: Tensor,
              sample: Tensor,
              slot: Tensor,
              batch: int,
              slots: int,
              dilation: int,
              bias: Optional[Tensor] = None) -> Tensor:
    """Per-sample dynamic convolution with kernels of one shape, as one grouped convolution.

    Every sample gets ``slots`` kernel slots; kernel j goes to slot ``slot[j]`` of sample
    ``sample[j]``, unused slots hold zero kernels (and no bias), so their output is exactly 0.
    The convolution has groups = B: each sample's input channels are read once for all of its
    kernels (faster on CPU than one group per kernel with a gathered input).

    Args:
        x (Tensor): (1, B * C, H, W), the batch stacked along the channels.
        kernels (Tensor): (n, C_out, C, k, k), k odd; "same" padding ``dilation * (k // 2)``.
        sample (Tensor): (n,) int64 sample of each kernel.
        slot (Tensor): (n,) int64 slot of each kernel, in [0, slots), unique per sample.
        batch (int): B.
        slots (int): Slots per sample.
        dilation (int): Dilation of all kernels.
        bias (Tensor, optional): (C_out,) added to the used slots.

    Returns:
        Tensor: (B * slots, C_out, H, W) (a view; slot m of sample b is row b * slots + m).
    """
    n, c_out, c_in, k, _ = kernels.shape
    h, w = x.shape[-2:]
    weight = kernels.new_zeros(batch, slots, c_out, c_in, k, k).index_put((sample, slot), kernels)
    if bias is not None:
        bias = kernels.new_zeros(batch, slots, c_out).index_put(
            (sample, slot),
            bias.to(kernels.dtype).expand(n, c_out)).reshape(-1)
    out = F.conv2d(
        x,
        weight.reshape(-1, c_in, k, k),
        bias,
        padding=dilation * (k // 2),
        dilation=dilation,
        groups=batch)
    return out.view(batch * slots, c_out, h, w)


@MODELS.register_module()
class A2SIBlock(BaseModule):
    """Adaptive semantic injection: compensates one encoder feature map with a task feature.

    ``forward(bank, task, feat)``: ``feat`` (B, C, H, W) -> (B, C, H, W) = feat +
    zero_conv(mean over K filters of LReLU(BN(dynamic_conv_k(feat)))). Filter k's kernel shape
    is its chosen set (0: 1x1; s >= 1: 3x3 with dilation 1 + (s - 1) % 3, "same" padding) and
    its 8x8 kernel is an MLP of its basis vector. The zero conv starts at zero, so a new block
    is the identity. Set choice: straight-through Gumbel-softmax (``tau``) in training, argmax
    in eval (deterministic). ``selection``: ``'hard'`` (faithful top-n) or ``'soft'`` (see
    :func:`select_basis_vectors`).

    Args:
        embed_dim (int): D. Defaults to 256.
        in_channels (int): C, channels of the feature map. Defaults to 8.
        filter_num (int): K. Defaults to 4.
        set_num (int): S. Defaults to 4.
        vector_num (int): V. Defaults to 32.
        proto_dim (int): Dimension of the set prototypes. Defaults to 16.
        tau (float): Gumbel-softmax temperature. Defaults to 0.5.
        gumbel_noise (bool): Gumbel noise in the training-time set choice. Defaults to True
            (the method); False makes training deterministic (argmax choice, same
            straight-through gradient), e.g. to compare runs exactly.
        selection (str): ``'hard'`` or ``'soft'``. Defaults to ``'hard'``.
        soft_temperature (float): Temperature of ``'soft'`` selection. Defaults to 0.1.
        init_cfg (dict | list[dict], optional): MMEngine initialisation applied by
            ``init_weights()``, which then sets the zero conv to zero again. Defaults to None:
            the construction-time init (PyTorch's defaults, orthogonal prototypes, zero conv).
    """

    def __init__(self,
                 embed_dim: int = 256,
                 in_channels: int = 8,
                 filter_num: int = 4,
                 set_num: int = 4,
                 vector_num: int = 32,
                 proto_dim: int = 16,
                 tau: float = 0.5,
                 selection: str = 'hard',
                 soft_temperature: float = 0.1,
                 gumbel_noise: bool = True,
                 init_cfg: InitCfg = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if selection not in SELECTION_MODES:
            raise ValueError(f'selection must be one of {SELECTION_MODES}, got {selection!r}')
        if filter_num > vector_num:
            raise ValueError(f'filter_num ({filter_num}) must not exceed vector_num '
                             f'({vector_num}): each filter of a set takes its own vector')
        if tau <= 0 or soft_temperature <= 0:
            raise ValueError(f'tau and soft_temperature must be > 0, got {tau}, '
                             f'{soft_temperature}')
        self.embed_dim = embed_dim
        self.in_channels = in_channels
        self.filter_num = filter_num
        self.set_num = set_num
        self.vector_num = vector_num
        self.tau = tau
        self.gumbel_noise = gumbel_noise
        self.selection = selection
        self.soft_temperature = soft_temperature
        c = in_channels
        self.selector = SetSelector(c, filter_num, set_num, proto_dim)
        self.basis_filter = BasisFilter(embed_dim, c)
        self.kernel_1x1 = _mlp(embed_dim, embed_dim // 4, c * c)
        self.kernel_3x3 = _mlp(embed_dim, embed_dim // 4, c * c * 9)
        self.out_norm = nn.BatchNorm2d(c)
        self.zero_conv = nn.Conv2d(c, c, 1)
        self._zero_init()

    def _zero_init(self) -> None:
        nn.init.zeros_(self.zero_conv.weight)
        nn.init.zeros_(self.zero_conv.bias)

    def init_weights(self) -> None:
        """``init_cfg`` (if any), then the zero conv to zero: a new block is the identity."""
        super().init_weights()
        self._zero_init()

    def encode_task(self, seq: TaskSequence) -> TaskCodes:
        """The parts of steps 1 and 6 that depend on T only: (B_t, P/2) and (B_t, D/2)."""
        return TaskCodes(self.selector.task_code(seq.raw), self.basis_filter.task_embed(seq.normed))

    def filter_responses(self, feat: Tensor, vectors: Tensor, set_index: Tensor,
                         rank: Tensor) -> Tensor:
        """Steps 7 and 8 up to the zero conv: mean over k of LReLU(BN(conv_k(feat))).

        One grouped convolution (groups = B, :func:`slot_conv`) per kernel shape; filter k of
        sample b uses slot ``rank[b, k]`` of its shape. Eval mode: ``out_norm`` and the 1/K of
        the mean are folded into the kernels, the activation runs in place and the slots are
        summed (on the CPU, where the convolutions run channels-last, pixel by pixel: the
        result is a (B, C, H, W) view of an (H, W, B, C) tensor). Training mode: the used
        slots are gathered for BN with batch statistics. Returns (B, C, H, W).
        """
        batch, c, h, w = feat.shape
        k_num = self.filter_num
        flat_vectors = vectors.reshape(batch * k_num, -1)
        flat_index, flat_rank = set_index.reshape(-1), rank.reshape(-1)
        norm = self.out_norm
        fold = not norm.training and norm.running_mean is not None
        if fold:
            # BN, and the mean over the K filters (LReLU(z) / K = LReLU(z / K))
            scale = norm.weight * torch.rsqrt(norm.running_var + norm.eps) / k_num
            shift = norm.bias / k_num - norm.running_mean * scale
        x = feat.reshape(1, batch * c, h, w)
        if DYNAMIC_CHANNELS_LAST and _use_channels_last(feat):
            x = x.contiguous(memory_format=torch.channels_last)
        total, used, pairs = None, [], []
        for s in range(self.set_num):  # one grouped convolution per kernel shape
            pair = (flat_index == s).nonzero().squeeze(1)
            if pair.numel() == 0:
                continue
            sample, slot = pair // k_num, flat_rank.index_select(0, pair)
            slots = int(slot.max()) + 1
            mlp, size = (self.kernel_1x1, 1) if s == 0 else (self.kernel_3x3, 3)
            kernels = mlp(flat_vectors.index_select(0, pair)).view(-1, c, c, size, size)
            dilation = 1 if s == 0 else set_dilation(s)
            if fold:
                kernels = kernels * scale.to(kernels.dtype).view(1, c, 1, 1, 1)
                out = slot_conv(x, kernels, sample, slot, batch, slots, dilation, shift)
                out = F.leaky_relu_(out, 0.2)
                pixels = out.permute(2, 3, 0, 1)  # (H, W, B * slots, C)
                if pixels.is_contiguous():  # channels-last: sum the slots pixel by pixel
                    out = pixels.reshape(h, w, batch, slots, c)
                    out = (out[:, :, :, 0] if slots == 1 else out.sum(3)).permute(2, 3, 0, 1)
                elif slots > 1:
                    out = out.view(batch, slots, c, h, w).sum(1)
                total = out if total is None else total.add_(out)
            else:
                out = slot_conv(x, kernels, sample, slot, batch, slots, dilation)
                used.append(out.index_select(0, sample * slots + slot))
                pairs.append(pair)
        if fold:
            return total
        out = F.leaky_relu(norm(torch.cat(used)), 0.2)  # BN statistics do not depend on order
        restore = torch.empty_like(flat_index)
        restore[torch.cat(pairs)] = torch.arange(batch * k_num, device=flat_index.device)
        return out.index_select(0, restore).view(batch, k_num, c, h, w).mean(1)

    def forward(self,
                bank: Tensor,
                task: Union[Tensor, TaskCodes],
                feat: Tensor,
                set_choice: Optional[Tensor] = None,
                return_choice: bool = False) -> Union[Tensor, Tuple[Tensor, Tensor]]:
        """Compensate ``feat``.

        Args:
            bank (Tensor): (S, V, D) basis vector bank (:class:`BasisVectorBank` output).
            task (Tensor | TaskCodes): the task feature (B_t, C_t, H_t, W_t) (any trailing
                shape, flattened per sample) or its codes from :meth:`encode_task`; B_t = 1 is
                broadcast over the batch.
            feat (Tensor): (B, C, H, W) encoder feature.
            set_choice (Tensor, optional): (B, K) sets that replace the choice of step 4.
            return_choice (bool): Also return the (B, K) chosen sets.

        Returns:
            Tensor: (B, C, H, W), or ``(out, set_index)`` with ``return_choice``.
        """
        expected = (self.set_num, self.vector_num, self.embed_dim)
        if tuple(bank.shape) != expected:
            raise ValueError(f'bank must have shape (S, V, D) = {expected}, got '
                             f'{tuple(bank.shape)}')
        if feat.dim() != 4 or feat.shape[1] != self.in_channels:
            raise ValueError(f'feat must have shape (B, {self.in_channels}, H, W), got '
                             f'{tuple(feat.shape)}')
        if not isinstance(task, TaskCodes):
            task = self.encode_task(task_sequence(task.to(device=feat.device, dtype=feat.dtype)))
        codes = task.expand_to(feat.shape[0])
        feat_in = (
            feat.contiguous(
                memory_format=torch.channels_last) if _use_channels_last(feat) else feat)
        logits = self.selector(codes.set_code, feat_in)
        weights, index = choose_sets(
            logits, self.training, self.tau, set_choice, noise=self.gumbel_noise)
        query = self.basis_filter(codes.query_code, feat_in)
        vectors = select_basis_vectors(query, bank, weights, index, self.selection,
                                       self.soft_temperature)
        mixed = self.filter_responses(feat, vectors, index, rank_within_set(index)[0])
        out = self.compensate(feat, mixed)
        return (out, index) if return_choice else out

    def compensate(self, feat: Tensor, mixed: Tensor) -> Tensor:
        """Step 8's end: ``feat + zero_conv(mixed)``, (B, C, H, W).

        In eval mode the 1x1 zero conv and the residual are one batched matrix product,
        ``(feat + bias) + W @ mixed`` per sample, which reads ``mixed`` in its layout.
        """
        conv = self.zero_conv
        if self.training:
            return feat + conv(mixed)
        batch, c, h, w = mixed.shape
        out = feat.reshape(batch, c, h * w) + conv.bias.view(1, -1, 1)
        weight = conv.weight.view(1, conv.out_channels, c).expand(batch, -1, -1)
        # in place: in feat's precision also under autocast (like the residual of the layers)
        out.baddbmm_(weight.to(out.dtype), mixed.reshape(batch, c, h * w).to(out.dtype))
        return out.view(batch, -1, h, w)


def count_parameters(module: nn.Module) -> int:
    """Number of parameters (trainable or not) of ``module``; buffers are not counted."""
    return sum(p.numel() for p in module.parameters())


__all__: List[str] = [
    'A2SIBlock', 'SetSelector', 'BasisFilter', 'TaskSequenceEncoder', 'TaskSequence', 'TaskCodes',
    'task_sequence', 'choose_sets', 'select_basis_vectors', 'rank_within_set', 'slot_conv',
    'set_dilation', 'pooled_conv_stack', 'count_parameters'
]
