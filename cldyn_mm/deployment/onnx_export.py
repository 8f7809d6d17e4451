"""ONNX export of the fusion models (:class:`VFNFuser`, :class:`CLDyNFuser`).

The models in ``cldyn_mm.models`` are written for PyTorch speed and are not traceable with
dynamic height and width as they are: the VFN builds its Sobel kernels at run time from the
input's channel count, and RSC's A2SI blocks pick the kernel shapes with data-dependent Python
control flow (``nonzero``, ``int(slot.max())``), apply the per-sample kernels as a grouped
convolution with ``groups = batch`` (a static attribute in ONNX) and cut the large maps into
row chunks whose count depends on the height. The TorchScript exporter stops at both with
"ONNX export of convolution for kernel of unknown shape".

This module wraps a built fuser in :class:`ExportFuser`, an export-friendly formulation of
the same eval-mode computation that reuses the fuser's own submodules and weights (nothing is
copied or changed; the fuser is put in eval mode):

* Sobel gradients: fixed (C, 1, 3, 3) kernels registered as buffers, ``groups = C``;
* task codes: the task sequence encoder as one ``conv1d`` over the whole sequence, then the
  same three-tap sums as :class:`TaskSequenceEncoder` (no chunk loop, so the task feature's
  size is dynamic too);
* image embeddings: ``layers(f).mean((2, 3))`` instead of row chunks;
* set choice: ``argmax`` of the cosine logits (the eval-mode choice; ties take the lowest set,
  in PyTorch and in ONNX ``ArgMax`` alike), one-hot;
* dynamic convolutions: both kernel MLPs run for every filter, the kernels are masked by the
  one-hot set choice and gathered into one matrix per dilation over the shifted copies of the
  zero-padded feature (im2col by slicing), applied with a batched ``MatMul``. Each filter uses
  exactly one set, so the masked sum is that set's convolution; BN (running statistics) and
  the mean over the filters are folded as in :meth:`A2SIBlock.filter_responses`.

The result equals the fuser's eval-mode output up to float rounding (the tests check 1e-4 on
real pairs). Training-mode behaviour (Gumbel sampling, batch statistics) is not exported.
``onnx`` / ``onnxruntime`` are imported only by the functions that need them.
"""
import os.path as osp
import warnings
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from cldyn_mm.utils.colour import merge_fused_y, rgb_to_ycbcr
from .options import (DEFAULT_OPSET, DEFAULT_SHAPE, DEFAULT_TASK_SHAPE, ExportError, check_opset,
                      check_shape)

IMAGE_AXES = {0: 'batch', 2: 'height', 3: 'width'}
TASK_AXES = {0: 'task_batch', 1: 'task_channels', 2: 'task_height', 3: 'task_width'}


def sobel_kernels(channels: int) -> Tuple[Tensor, Tensor]:
    """(C, 1, 3, 3) Sobel x and y kernels divided by 8, as ``sobel_l1(normalized=True)``."""
    kx = torch.tensor([[-1., 0., 1.], [-2., 0., 2.], [-1., 0., 1.]]) / 8
    ky = kx.t().contiguous()
    return (kx.expand(channels, 1, 3, 3).contiguous(), ky.expand(channels, 1, 3, 3).contiguous())


class ExportGradientFusion(nn.Module):
    """FRB1 (:class:`GradientAttentionFusion`) with fixed Sobel kernels as buffers."""

    def __init__(self, fusion: nn.Module, channels: int) -> None:
        super().__init__()
        self.fusion = fusion
        kx, ky = sobel_kernels(channels)
        self.register_buffer('sobel_x', kx, persistent=False)
        self.register_buffer('sobel_y', ky, persistent=False)
        self.channels = channels

    def gradient(self, x: Tensor) -> Tensor:
        """``sobel_l1(x, True, 'replicate')``: (B, C, H, W) -> (B, C, H, W)."""
        padded = F.pad(x, (1, 1, 1, 1), mode='replicate')
        gx = F.conv2d(padded, self.sobel_x, groups=self.channels)
        gy = F.conv2d(padded, self.sobel_y, groups=self.channels)
        return gx.abs() + gy.abs()

    def forward(self, f_ir: Tensor, f_vis: Tensor) -> Tensor:
        m = self.fusion
        couple = torch.cat((f_ir, f_vis), dim=1)
        cg = torch.cat((self.gradient(f_ir), self.gradient(f_vis)), dim=1)
        ca = m.channel_mlp_avg(cg.mean((2, 3))) + m.channel_mlp_max(cg.amax((2, 3)))
        sa = (
            m.spatial_conv_avg(F.avg_pool2d(cg, 3, 1, 1)) +
            m.spatial_conv_max(F.max_pool2d(cg, 3, 1, 1)))
        return couple * torch.sigmoid(ca[:, :, None, None] * sa)


class ExportVFN(nn.Module):
    """The VFN's encoders and decoder with :class:`ExportGradientFusion` as FRB1."""

    def __init__(self, vfn: nn.Module) -> None:
        super().__init__()
        self.vfn = vfn
        self.fusion = ExportGradientFusion(vfn.fusion, vfn.channels)

    @property
    def num_blocks(self) -> int:
        return self.vfn.num_blocks

    def encode_block(self, h_ir: Tensor, h_vis: Tensor, index: int) -> Tuple[Tensor, Tensor]:
        return (self.vfn.ir_encoder.forward_block(h_ir, index),
                self.vfn.vis_encoder.forward_block(h_vis, index))

    def fuse_features(self, f_ir: Tensor, f_vis: Tensor) -> Tensor:
        return self.vfn.decoder(self.fusion(f_ir, f_vis))

    def forward(self, ir: Tensor, vis_y: Tensor) -> Tensor:
        f_ir, f_vis = ir, vis_y
        for i in range(self.num_blocks):
            f_ir, f_vis = self.encode_block(f_ir, f_vis, i)
        return self.fuse_features(f_ir, f_vis)


def encode_sequence(encoder: nn.Module, seq: Tensor) -> Tensor:
    """:class:`TaskSequenceEncoder` without the chunk loop: (B, L) -> (B, out), any L >= 2.

    conv1 (one input channel) runs over the whole sequence; conv2 is linear and followed by a
    mean, so it is applied to the three tap sums of the hidden activation (zero padding: tap 0
    sees all positions but the last, tap 1 all, tap 2 all but the first).
    """
    h = F.leaky_relu(F.conv1d(seq[:, None], encoder.conv1.weight, padding=1), 0.2)
    total = h.sum(-1)
    taps = torch.stack((total - h[..., -1], total, total - h[..., 0]), dim=-1)  # (B, hid, 3)
    return torch.einsum('bck,ock->bo', taps, encoder.conv2.weight) / seq.shape[-1]


class ExportA2SI(nn.Module):
    """Eval-mode :class:`A2SIBlock` with static shapes (see the module docstring)."""

    def __init__(self, block: nn.Module) -> None:
        super().__init__()
        from cldyn_mm.models.fusion.a2si import set_dilation
        self.block = block
        self.filter_num = block.filter_num
        self.set_num = block.set_num
        self.channels = block.in_channels
        # sets of each dilation of the 3x3 kernels (set 0 is the 1x1 kernel)
        dilations: Dict[int, List[int]] = {}
        for s in range(1, self.set_num):
            dilations.setdefault(set_dilation(s), []).append(s)
        self.dilations = dict(sorted(dilations.items()))
        self.pad = max(self.dilations, default=0)

    def codes(self, raw: Tensor, normed: Tensor) -> Tuple[Tensor, Tensor]:
        """``(set_code, query_code)`` of the task sequence, as :meth:`A2SIBlock.encode_task`."""
        b = self.block
        return (encode_sequence(b.selector.task_code,
                                raw), encode_sequence(b.basis_filter.task_embed, normed))

    def set_logits(self, set_code: Tensor, feat: Tensor) -> Tensor:
        """:meth:`SetSelector.forward`: (B, K, S) cosine logits."""
        sel = self.block.selector
        img = sel.img_code(feat).mean((2, 3))
        joint = sel.joint(torch.cat((set_code, img), dim=1))
        joint = F.normalize(joint.view(-1, sel.proto_dim, sel.filter_num), dim=1, eps=1e-8)
        protos = F.normalize(sel.prototypes, dim=-1, eps=1e-8)
        return torch.einsum('sp,bpk->bks', protos, joint)

    def _shifted(self, padded: Tensor, dy: int, dx: int) -> Tensor:
        """The zero-padded feature shifted by (dy, dx): static slices with negative ends."""
        p = self.pad
        y_end, x_end = p - dy, p - dx
        return padded[:, :, p + dy:(-y_end if y_end else None), p + dx:(-x_end if x_end else None)]

    def filter_responses(self, feat: Tensor, vectors: Tensor, onehot: Tensor) -> Tensor:
        """Eval-mode :meth:`A2SIBlock.filter_responses`: mean_k LReLU(BN(conv_k(feat)))."""
        b = self.block
        c, k_num = self.channels, self.filter_num
        norm = b.out_norm
        scale = norm.weight * torch.rsqrt(norm.running_var + norm.eps) / k_num
        shift = norm.bias / k_num - norm.running_mean * scale
        flat = vectors.reshape(-1, vectors.shape[-1])  # (B * K, D)
        # kernels of both shapes for every filter, output channels scaled by BN: (B, K, C, C)
        k1 = b.kernel_1x1(flat).view(-1, k_num, c, c) * scale.view(1, 1, c, 1)
        k3 = b.kernel_3x3(flat).view(-1, k_num, c, c, 9) * scale.view(1, 1, c, 1, 1)
        masks = onehot.unsqueeze(-1).unsqueeze(-1)  # (B, K, S, 1, 1)
        center = masks[:, :, 0] * k1
        groups: List[Tuple[List[Tuple[int, int]], List[Tensor]]] = []
        for j, (d, sets) in enumerate(self.dilations.items()):
            m = masks[:, :, sets].sum(2) if len(sets) > 1 else masks[:, :, sets[0]]
            offsets, weights = [], []
            for t in range(9):
                dy, dx = (t // 3 - 1) * d, (t % 3 - 1) * d
                if t == 4:  # the centre tap of every 3x3 set goes with the 1x1 kernel
                    continue
                offsets.append((dy, dx))
                weights.append(m * k3[..., t])
            groups.append((offsets, weights))
        if self.dilations:
            center = center + masks[:, :, 1:].sum(2) * k3[..., 4]
        if groups:  # the centre joins the first group's matrix
            groups[0][0].insert(0, (0, 0))
            groups[0][1].insert(0, center)
        else:
            groups.append(([(0, 0)], [center]))
        padded = F.pad(feat, (self.pad, ) * 4) if self.pad else feat
        out = None
        for offsets, weights in groups:
            cols = torch.cat([self._shifted(padded, dy, dx) for dy, dx in offsets], dim=1)
            # (B, K, C_out, taps, C_in) -> (B, K * C_out, taps * C_in), tap-major as cols
            w = torch.stack(weights, dim=3).flatten(3).flatten(1, 2)
            part = torch.matmul(w, cols.flatten(2))  # (B, K * C_out, H * W)
            out = part if out is None else out + part
        out = out.unflatten(1, (k_num, c)) + shift.view(1, 1, c, 1)
        return F.leaky_relu(out, 0.2).sum(1).view_as(feat)

    def forward(self, bank: Tensor, set_code: Tensor, query_code: Tensor, feat: Tensor) -> Tensor:
        from cldyn_mm.models.fusion.a2si import select_basis_vectors
        b = self.block
        batch = feat.shape[0]
        set_code = set_code.expand(batch, -1)  # a task feature of batch 1 serves every image
        query_code = query_code.expand(batch, -1)
        logits = self.set_logits(set_code, feat)
        index = logits.argmax(-1)  # (B, K), deterministic
        onehot = (index.unsqueeze(-1) == torch.arange(self.set_num)).to(feat.dtype)
        query = b.basis_filter.query(
            torch.cat((query_code, b.basis_filter.img_embed(feat).mean((2, 3))), dim=1))
        vectors = select_basis_vectors(query, bank, onehot, index, b.selection, b.soft_temperature)
        mixed = self.filter_responses(feat, vectors, onehot)
        return feat + b.zero_conv(mixed)


class ExportFuser(nn.Module):
    """Export-friendly eval-mode form of a :class:`VFNFuser` or :class:`CLDyNFuser`.

    ``forward(ir, vis)`` (VFN) or ``forward(ir, vis, task_feat)`` (CLDyN) returns
    ``(fused_y, fused)``:

    * ``ir`` (N, 1, H, W) and ``vis`` (N, 3, H, W) RGB, float32 in [0, 1];
    * ``task_feat`` (N_t, C_t, H_t, W_t), N_t = 1 (used for every image) or N;
    * ``fused_y`` (N, 1, H, W) in [0, 1], ``fused`` (N, 3, H, W) RGB in [0, 1], the values of
      ``fuser.fuse(inputs, task_feat=...)``.
    """

    def __init__(self, fuser: nn.Module) -> None:
        super().__init__()
        from cldyn_mm.models import CLDyNFuser, VFNFuser
        if isinstance(fuser, CLDyNFuser):
            self.kind = 'cldyn'
        elif isinstance(fuser, VFNFuser):
            self.kind = 'vfn'
        else:
            raise ExportError(f'ONNX export supports VFNFuser and CLDyNFuser configs '
                              f'(configs/vfn/*.py, configs/cldyn/cldyn_vfn-rsc_pairs.py), not '
                              f'{type(fuser).__name__}')
        fuser.eval()
        self.vfn = ExportVFN(fuser.fusion_net)
        if self.kind == 'cldyn':
            self.bank = fuser.bank
            self.rsc_ir = nn.ModuleList(ExportA2SI(b) for b in fuser.rsc_ir.blocks)
            self.rsc_vis = nn.ModuleList(ExportA2SI(b) for b in fuser.rsc_vis.blocks)

    @property
    def input_names(self) -> List[str]:
        return ['ir', 'vis', 'task_feat'] if self.kind == 'cldyn' else ['ir', 'vis']

    def forward(self,
                ir: Tensor,
                vis: Tensor,
                task_feat: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        ycbcr = rgb_to_ycbcr(vis)
        vis_y = ycbcr[:, :1]
        if self.kind == 'vfn':
            fused_y = self.vfn(ir, vis_y)
        else:
            if task_feat is None:
                raise ValueError('the CLDyN export needs a task feature')
            fused_y = self.compensated(ir, vis_y, task_feat)
        return fused_y, merge_fused_y(fused_y, ycbcr)

    def compensated(self, ir: Tensor, vis_y: Tensor, task_feat: Tensor) -> Tensor:
        """:meth:`CLDyNFuser.fuse_y` with a task feature, eval mode."""
        raw = task_feat.flatten(1)
        normed = raw / (raw.pow(2).mean(dim=1, keepdim=True).sqrt() + 1e-8)
        bank = self.bank()
        h_ir, h_vis = ir, vis_y
        last = self.vfn.num_blocks - 1
        for i in range(self.vfn.num_blocks):
            f_ir, f_vis = self.vfn.encode_block(h_ir, h_vis, i)
            if i < last:
                block_ir, block_vis = self.rsc_ir[i], self.rsc_vis[i]
                h_ir = block_ir(bank, *block_ir.codes(raw, normed), f_ir)
                h_vis = block_vis(bank, *block_vis.codes(raw, normed), f_vis)
        return self.vfn.fuse_features(f_ir, f_vis)


def dummy_inputs(kind: str,
                 shape: Sequence[int] = DEFAULT_SHAPE,
                 task_shape: Sequence[int] = DEFAULT_TASK_SHAPE,
                 batch: int = 1,
                 seed: int = 0) -> Tuple[Tensor, ...]:
    """Random inputs of :class:`ExportFuser` (``kind`` 'vfn' or 'cldyn')."""
    g = torch.Generator().manual_seed(seed)
    h, w = shape
    ir = torch.rand(batch, 1, h, w, generator=g)
    vis = torch.rand(batch, 3, h, w, generator=g)
    if kind == 'vfn':
        return ir, vis
    return ir, vis, torch.randn(1, *task_shape, generator=g)


def export_onnx(fuser: nn.Module,
                out: str,
                shape: Sequence[int] = DEFAULT_SHAPE,
                opset: int = DEFAULT_OPSET,
                task_shape: Sequence[int] = DEFAULT_TASK_SHAPE) -> ExportFuser:
    """Export ``fuser`` to the ONNX file ``out`` (TorchScript exporter, ``dynamo=False``).

    Dynamic axes: the batch, height and width of every image input and output, and all four
    axes of ``task_feat``; ``shape`` (H, W) and ``task_shape`` (C_t, H_t, W_t) only size the
    dummy inputs. Returns the :class:`ExportFuser` that was traced.
    """
    shape = check_shape(shape, 'shape')
    task_shape = check_shape(task_shape, 'task_shape', 3, 1)
    check_opset(opset)
    model = ExportFuser(fuser).eval()
    args = dummy_inputs(model.kind, shape, task_shape)
    axes = {'ir': IMAGE_AXES, 'vis': IMAGE_AXES, 'fused_y': IMAGE_AXES, 'fused': IMAGE_AXES}
    if model.kind == 'cldyn':
        axes['task_feat'] = TASK_AXES
    out_dir = osp.dirname(osp.abspath(out))
    if not osp.isdir(out_dir):
        raise ExportError(f'output folder does not exist: {out_dir}')
    with torch.no_grad(), warnings.catch_warnings():
        # torch >= 2.9 flags the TorchScript exporter as legacy; the Slice folding note and
        # the colour conversion's channel-count checks (static, 3) are expected
        warnings.filterwarnings('ignore', category=DeprecationWarning)
        warnings.filterwarnings('ignore', message='Constant folding - Only steps=1')
        warnings.filterwarnings(
            'ignore', category=torch.jit.TracerWarning, module=r'cldyn_mm\.utils\.colour')
        torch.onnx.export(
            model,
            args,
            out,
            dynamo=False,
            opset_version=opset,
            input_names=model.input_names,
            output_names=['fused_y', 'fused'],
            dynamic_axes=axes,
            do_constant_folding=True)
    return model


def onnx_session(path: str, threads: Optional[int] = None):
    """An onnxruntime CPU ``InferenceSession`` of ``path`` (``threads`` intra-op threads)."""
    import onnxruntime as ort
    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = threads
    return ort.InferenceSession(path, opts, providers=['CPUExecutionProvider'])


def run_onnx(session, inputs: Sequence[Tensor]) -> List[Tensor]:
    """Run an onnxruntime session on torch tensors: ``[fused_y, fused]``."""
    names = [i.name for i in session.get_inputs()]
    feed = {n: t.detach().cpu().float().numpy() for n, t in zip(names, inputs)}
    return [torch.from_numpy(o) for o in session.run(None, feed)]


def torch_reference(fuser: nn.Module, inputs: Sequence[Tensor]) -> List[Tensor]:
    """``[fused_y, fused]`` of the unmodified fuser in eval mode (the values to match)."""
    ir, vis = inputs[0], inputs[1]
    data = dict(ir=ir, vis=vis, vis_ycbcr=rgb_to_ycbcr(vis))
    kwargs = dict(task_feat=inputs[2]) if len(inputs) > 2 else {}
    with torch.no_grad():
        out = fuser.eval().fuse(data, **kwargs)
    return [out['fused_y'], out['fused']]


def max_abs_diff(a: Sequence[Tensor], b: Sequence[Tensor]) -> float:
    """Largest absolute difference over pairs of tensors of equal shape."""
    diff = 0.
    for x, y in zip(a, b):
        if x.shape != y.shape:
            raise ValueError(f'shape mismatch: {tuple(x.shape)} vs {tuple(y.shape)}')
        diff = max(diff, (x.float() - y.float()).abs().max().item())
    return diff


def check_onnx_model(path: str) -> None:
    """``onnx.checker`` on the exported file (raises when the graph is invalid)."""
    import onnx
    onnx.checker.check_model(path)


__all__ = [
    'ExportFuser', 'ExportVFN', 'ExportA2SI', 'ExportGradientFusion', 'ExportError',
    'encode_sequence', 'export_onnx', 'dummy_inputs', 'onnx_session', 'run_onnx', 'torch_reference',
    'max_abs_diff', 'check_onnx_model'
]
