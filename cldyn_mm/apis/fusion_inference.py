"""Inference helpers: build a fusion model from a config and fuse folders of pairs."""
import os
import os.path as osp
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import Compose, pseudo_collate
from mmengine.runner import load_checkpoint
from torch.utils.data import DataLoader, Dataset

from cldyn_mm.datasets.paired_image_dataset import list_images, pair_by_stem
from cldyn_mm.datasets.task_utils import image_size
from cldyn_mm.registry import MODELS
from cldyn_mm.utils import register_all_modules
from cldyn_mm.utils.image_io import write_image_atomic

OUTPUT_EXTENSIONS = ('.png', '.jpg', '.bmp', '.tif')


def init_fuser(config,
               checkpoint: Optional[str] = None,
               device: str = 'cpu',
               cfg_options: Optional[dict] = None) -> torch.nn.Module:
    """Build the fusion model of ``config`` (path or Config), load ``checkpoint`` strictly."""
    register_all_modules(init_default_scope=True)
    cfg = Config.fromfile(config) if isinstance(config, str) else config
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    model = MODELS.build(cfg.model)
    if checkpoint is not None:
        if not osp.isfile(checkpoint):
            raise FileNotFoundError(f'checkpoint not found: {checkpoint}')
        try:
            load_checkpoint(model, checkpoint, map_location='cpu', strict=True)
        except RuntimeError as e:
            raise RuntimeError(f'{checkpoint} does not fit the model of the config '
                               f'({type(model).__name__}): {e}') from e
    model.cfg = cfg
    return model.to(device).eval()


def load_task_feature(path: str) -> torch.Tensor:
    """A task feature saved with ``torch.save``: (C, H, W) or (1, C, H, W) -> (1, C, H, W)."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'task feature file not found: {path}')
    feat = torch.load(path, map_location='cpu', weights_only=True)
    if not isinstance(feat, torch.Tensor):
        raise TypeError(f'{path} must hold one tensor, found {type(feat).__name__}')
    if feat.dim() == 3:
        feat = feat[None]
    if feat.dim() != 4 or feat.shape[0] != 1:
        raise ValueError(f'{path}: task feature must have shape (C, H, W) or (1, C, H, W), '
                         f'got {tuple(feat.shape)}')
    return feat.float()


class _PairList(Dataset):

    def __init__(self, items: List[dict]) -> None:
        self.items = items
        self.pipeline = Compose([dict(type='LoadIRVisPair'), dict(type='PackFusionInputs')])

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict:
        return self.pipeline(dict(self.items[i]))


def _item_size(item: dict, modality: str):
    """(width, height) and a name for messages of an item's infrared (``'ir'``) or visible
    (``'vi'``) image: an array ``ir_img`` / ``vis_img`` or a file ``ir_path`` / ``vi_path``."""
    key = 'ir_img' if modality == 'ir' else 'vis_img'
    path = item.get(f'{modality}_path')
    if key in item:
        name = path or (f"the {'infrared' if modality == 'ir' else 'visible'} array of pair "
                        f"{item.get('stem', '?')!r}")
        return tuple(item[key].shape[1::-1]), name
    return image_size(path), path


def size_batches(items: Sequence[dict], batch_size: int) -> List[List[int]]:
    """Indices grouped into batches of equal image size (no padding, exact outputs).

    ``items``: dicts with ``ir_path`` / ``vi_path`` (sizes read from the file headers) or
    ``ir_img`` / ``vis_img`` numpy arrays (H, W[, C]). A pair whose two images differ in size
    raises ``ValueError`` naming both."""
    groups: Dict[tuple, List[int]] = OrderedDict()
    for i, item in enumerate(items):
        (ir_size, ir_name), (vi_size, vi_name) = _item_size(item, 'ir'), _item_size(item, 'vi')
        if ir_size != vi_size:
            raise ValueError(f'infrared and visible images differ in size: {ir_name} is '
                             f'{ir_size[0]}x{ir_size[1]}, {vi_name} is {vi_size[0]}x{vi_size[1]}')
        groups.setdefault(ir_size, []).append(i)
    return [
        idx[k:k + batch_size] for idx in groups.values() for k in range(0, len(idx), batch_size)
    ]


def write_rgb(path: str, rgb: torch.Tensor) -> None:
    """Write (3, H, W) RGB in [0, 1] as an 8-bit image, atomically (tmp file + rename)."""
    img = (rgb.clamp(0, 1) * 255 + 0.5).to(torch.uint8).permute(1, 2, 0).cpu().numpy()
    write_image_atomic(path, np.ascontiguousarray(img[..., ::-1]))


def fuse_folder(model,
                ir_dir: str,
                vi_dir: str,
                out_dir: str,
                batch_size: int = 4,
                num_workers: int = 0,
                task_feat: Optional[torch.Tensor] = None,
                ext: str = '.png',
                overwrite: bool = False,
                progress: bool = True) -> dict:
    """Fuse every pair of ``ir_dir`` / ``vi_dir`` into ``out_dir/<stem><ext>``.

    Pairs are matched by stem; outputs keep each pair's original size. Files that already
    exist in ``out_dir`` are skipped (resuming a half-done folder) unless ``overwrite``.
    Outputs are written atomically, so an interrupted run leaves no truncated image.

    Returns:
        dict: ``written``, ``skipped`` (already present) and ``total`` pair counts.
    """
    ext = ext if ext.startswith('.') else '.' + ext
    if ext.lower() not in OUTPUT_EXTENSIONS:
        raise ValueError(f'output extension {ext!r} not supported; use one of {OUTPUT_EXTENSIONS}')
    if batch_size < 1:
        raise ValueError(f'batch size must be >= 1, got {batch_size}')
    ir_files, vi_files = list_images(ir_dir), list_images(vi_dir)
    stems = pair_by_stem(ir_files, vi_files, ir_dir, vi_dir)
    os.makedirs(out_dir, exist_ok=True)
    todo = [
        dict(stem=s, ir_path=ir_files[s], vi_path=vi_files[s]) for s in stems
        if overwrite or not osp.isfile(osp.join(out_dir, s + ext))
    ]
    skipped = len(stems) - len(todo)
    if not todo:
        return dict(written=0, skipped=skipped, total=len(stems))
    loader = DataLoader(
        _PairList(todo),
        batch_sampler=size_batches(todo, batch_size),
        num_workers=num_workers,
        collate_fn=pseudo_collate)
    device = next(model.parameters()).device
    if task_feat is not None:
        task_feat = task_feat.to(device)
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=len(todo), unit='pair', desc='fusing')
    written = 0
    kwargs = {} if task_feat is None else dict(task_feat=task_feat)
    with torch.inference_mode():
        for batch in loader:
            data = model.data_preprocessor(batch, False)
            out = model.fuse(data['inputs'], **kwargs)
            for sample in model.postprocess(out, data['data_samples']):
                write_rgb(osp.join(out_dir, sample.metainfo['stem'] + ext), sample.pred_fused)
                written += 1
            if bar is not None:
                bar.update(len(data['data_samples']))
    if bar is not None:
        bar.close()
    return dict(written=written, skipped=skipped, total=len(stems))
