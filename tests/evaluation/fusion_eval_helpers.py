"""Helpers of the evaluation tests: real IR/VIS pairs from the shared data, simple fusions."""
from pathlib import Path

import numpy as np

DATASETS = ('TNO', 'RoadScene', 'MSRS', 'LLVIP', 'M3FD')

_PAIR_CACHE = {}


def real_pairs(shared_data: Path, dataset: str, n: int = 2):
    """The first ``n`` pairs (sorted by stem) of ``ivif_pairs/<dataset>`` as
    ``[(stem, ir_path, vi_path, A, B)]`` with A, B float64 grey levels (``load_grey``)."""
    from cldyn_mm.evaluation.functional import load_grey
    key = (str(shared_data), dataset, n)
    if key not in _PAIR_CACHE:
        folder = shared_data / 'ivif_pairs' / dataset
        stems = sorted(p.stem for p in (folder / 'ir').iterdir())[:n]
        out = []
        for stem in stems:
            ir = next((folder / 'ir').glob(stem + '.*'))
            vi = next((folder / 'vi').glob(stem + '.*'))
            out.append((stem, ir, vi, load_grey(ir), load_grey(vi)))
        _PAIR_CACHE[key] = out
    return _PAIR_CACHE[key]


def simple_fusions(A: np.ndarray, B: np.ndarray):
    """Two simple fused images of a pair: rounded average and maximum (grey levels 0..255)."""
    return {'avg': np.round((A + B) / 2), 'max': np.maximum(A, B)}


def crop(x: np.ndarray, h: int, w: int) -> np.ndarray:
    """Central crop of at most h x w pixels."""
    H, W = x.shape
    h, w = min(h, H), min(w, W)
    top, left = (H - h) // 2, (W - w) // 2
    return x[top:top + h, left:left + w]
