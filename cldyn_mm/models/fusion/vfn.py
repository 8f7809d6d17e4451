"""VFN, the visually guided fusion network of CLDyN (spec section 2).

Data flow (B = batch, images in [0, 1]):
    ir (B, 1, H, W), vis_y (B, 1, H, W)
      -> ir_encoder / vis_encoder, 4 blocks each, (B, 8, H, W) throughout
      -> fusion (FRB1): attention over cat(f_ir, f_vis), (B, 16, H, W)
      -> decoder (FRB2): (B, 1, H, W) fused Y in [0, 1]
The network is fully convolutional and keeps the input size (any H, W >= 2).
"""
from typing import List

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule, ModuleList, Sequential
from torch import Tensor

from cldyn_mm.registry import MODELS
from .gradients import sobel_l1
from .layers import InitCfg, LegacyKeysMixin, conv_block


class DenseDilatedBlock(LegacyKeysMixin, BaseModule):
    """CB: dense block of two dilated 3x3 convs and a 1x1 fusion conv with a residual.

    ``conv1`` / ``conv2``: ConvModules (conv with bias, BN, LeakyReLU(0.2); dilation 2, zero
    padding). (B, C, H, W) -> (B, C, H, W).
    """

    _legacy_renames = {
        'conv1.0': 'conv1.conv',
        'conv1.1': 'conv1.bn',
        'conv2.0': 'conv2.conv',
        'conv2.1': 'conv2.bn'
    }

    def __init__(self, channels: int = 8, init_cfg: InitCfg = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.conv1 = conv_block(channels, channels, dilation=2)
        self.conv2 = conv_block(2 * channels, channels, dilation=2)
        self.fuse = nn.Conv2d(3 * channels, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        y1 = torch.cat((x, self.conv1(x)), dim=1)
        y2 = torch.cat((y1, self.conv2(y1)), dim=1)
        return x + F.leaky_relu(self.fuse(y2), 0.2)


class FeatureEncoder(LegacyKeysMixin, BaseModule):
    """FEB: a stem (1 -> 4 -> C, reflect-padded) and ``num_blocks`` CB blocks.

    ``stem``: two ConvModules (conv with bias, BN, LeakyReLU(0.2)). Callable block by block
    (:meth:`forward_block`) because RSC acts between blocks; block 0 is the stem followed by
    the first CB. (B, 1, H, W) -> (B, C, H, W).
    """

    _legacy_renames = {
        'stem.0': 'stem.0.conv',
        'stem.1': 'stem.0.bn',
        'stem.3': 'stem.1.conv',
        'stem.4': 'stem.1.bn'
    }

    def __init__(self,
                 in_channels: int = 1,
                 channels: int = 8,
                 num_blocks: int = 4,
                 init_cfg: InitCfg = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.stem = Sequential(
            conv_block(in_channels, channels // 2, padding_mode='reflect'),
            conv_block(channels // 2, channels, padding_mode='reflect'))
        self.blocks = ModuleList(DenseDilatedBlock(channels) for _ in range(num_blocks))

    @property
    def num_blocks(self) -> int:
        return len(self.blocks)

    def forward_block(self, x: Tensor, index: int) -> Tensor:
        if index == 0:
            x = self.stem(x)
        return self.blocks[index](x)

    def forward(self, x: Tensor) -> Tensor:
        for i in range(self.num_blocks):
            x = self.forward_block(x, i)
        return x


class GradientAttentionFusion(BaseModule):
    """FRB1: channel x spatial attention computed on the gradients of both feature maps.

    (B, C, H, W) x 2 -> (B, 2C, H, W) = cat(f_ir, f_vis) * sigmoid(ca * sa).
    """

    def __init__(self, channels: int = 16, hidden: int = 32, init_cfg: InitCfg = None) -> None:
        super().__init__(init_cfg=init_cfg)

        def mlp():
            return nn.Sequential(
                nn.Linear(channels, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, channels))

        def spatial():
            return nn.Sequential(
                nn.Conv2d(channels, hidden, 3, padding=1, padding_mode='reflect'),
                nn.ReLU(inplace=True),
                nn.Conv2d(hidden, channels, 3, padding=1, padding_mode='reflect'))

        self.channel_mlp_avg = mlp()
        self.channel_mlp_max = mlp()
        self.spatial_conv_avg = spatial()
        self.spatial_conv_max = spatial()

    def forward(self, f_ir: Tensor, f_vis: Tensor) -> Tensor:
        couple = torch.cat((f_ir, f_vis), dim=1)
        cg = torch.cat((sobel_l1(f_ir, True, 'replicate'), sobel_l1(f_vis, True, 'replicate')),
                       dim=1)
        ca = self.channel_mlp_avg(cg.mean((2, 3))) + self.channel_mlp_max(cg.amax((2, 3)))
        sa = (
            self.spatial_conv_avg(F.avg_pool2d(cg, 3, 1, 1)) +
            self.spatial_conv_max(F.max_pool2d(cg, 3, 1, 1)))
        return couple * torch.sigmoid(ca[:, :, None, None] * sa)


class FusionDecoder(LegacyKeysMixin, BaseModule):
    """FRB2: (B, 2C, H, W) -> fused Y (B, 1, H, W) in [0, 1] via (tanh + 1) / 2.

    ``head``: a ConvModule (conv with bias, BN, LeakyReLU(0.2)); ``out``: such a ConvModule and
    a ConvModule of only a conv (with bias); all reflect-padded.
    """

    _legacy_renames = {
        'head.0': 'head.conv',
        'head.1': 'head.bn',
        'out.0': 'out.0.conv',
        'out.1': 'out.0.bn',
        'out.3': 'out.1.conv'
    }

    def __init__(self,
                 in_channels: int = 16,
                 channels: int = 8,
                 num_blocks: int = 4,
                 init_cfg: InitCfg = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.head = conv_block(in_channels, channels, padding_mode='reflect')
        self.blocks = ModuleList(DenseDilatedBlock(channels) for _ in range(num_blocks))
        self.out = Sequential(
            conv_block(channels, channels // 2, padding_mode='reflect'),
            conv_block(channels // 2, 1, padding_mode='reflect', norm=False, act=False))

    def forward(self, x: Tensor) -> Tensor:
        x = self.head(x)
        for block in self.blocks:
            x = block(x)
        return (torch.tanh(self.out(x)) + 1) / 2


@MODELS.register_module()
class VFN(BaseModule):
    """Visually guided fusion network: fuses IR and visible Y into one Y image.

    46,617 parameters with the defaults. ``forward(ir, vis_y)`` takes (B, 1, H, W) tensors in
    [0, 1] and returns the fused Y (B, 1, H, W) in [0, 1]. ``encode_block`` / ``fuse_features``
    expose the stages so that RSC can act between encoder blocks.

    Args:
        channels (int): Feature channels of each encoder. Defaults to 8.
        num_blocks (int): CB blocks per encoder and in the decoder. Defaults to 4.
        channels_last (bool): Keep the conv weights and the network's inputs in the
            channels-last memory format. The values are the same; with 8-16 channel maps,
            oneDNN on CPU runs the network about twice as fast that way
            (``benchmarks/bench_fusion.py``). Defaults to True.
        init_cfg (dict | list[dict], optional): MMEngine initialisation applied by
            ``init_weights()``. Defaults to None: every layer keeps PyTorch's default
            initialisation (that of the research code; MMEngine's initialisers cannot express
            its bias init), which the network gets at construction.

    Conv + BN + LeakyReLU stages are mmcv ``ConvModule``s (``conv`` / ``bn`` in the state
    dict); checkpoints of the earlier ``nn.Sequential`` layout still load (see
    :mod:`cldyn_mm.models.fusion.layers`).
    """

    def __init__(self,
                 channels: int = 8,
                 num_blocks: int = 4,
                 channels_last: bool = True,
                 init_cfg: InitCfg = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.channels = channels
        self.channels_last = channels_last
        self.ir_encoder = FeatureEncoder(1, channels, num_blocks)
        self.vis_encoder = FeatureEncoder(1, channels, num_blocks)
        self.fusion = GradientAttentionFusion(2 * channels, 4 * channels)
        self.decoder = FusionDecoder(2 * channels, channels, num_blocks)
        if channels_last:
            self.to(memory_format=torch.channels_last)

    def _memory_format(self, x: Tensor) -> Tensor:
        if self.channels_last and x.dim() == 4:
            return x.contiguous(memory_format=torch.channels_last)
        return x

    @property
    def num_blocks(self) -> int:
        return self.ir_encoder.num_blocks

    def encode_block(self, h_ir: Tensor, h_vis: Tensor, index: int) -> List[Tensor]:
        """Run encoder block ``index`` of both modalities: returns ``[f_ir, f_vis]``."""
        h_ir, h_vis = self._memory_format(h_ir), self._memory_format(h_vis)
        return [
            self.ir_encoder.forward_block(h_ir, index),
            self.vis_encoder.forward_block(h_vis, index)
        ]

    def fuse_features(self, f_ir: Tensor, f_vis: Tensor) -> Tensor:
        """FRB1 + FRB2 on the last encoder features: (B, C, H, W) x 2 -> (B, 1, H, W)."""
        return self.decoder(self.fusion(f_ir, f_vis))

    def forward(self, ir: Tensor, vis_y: Tensor) -> Tensor:
        ir, vis_y = self._memory_format(ir), self._memory_format(vis_y)
        return self.fuse_features(self.ir_encoder(ir), self.vis_encoder(vis_y))
