"""Fixtures of the evaluation tests: the numpy/scipy reference and real IR/VIS pairs.

The reference implementation lives in ``benchmarks/_reference_metrics.py`` (shared with
``benchmarks/bench_metrics.py``, see its docstring) and is loaded here by path. Real pairs are
read from ``../shared/data/ivif_pairs`` through the ``shared_data`` fixture (skipped cleanly
when absent); nothing is copied into the repository.
"""
import importlib.util
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


def _load_module(name: str, path: Path):
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='session')
def reference():
    """The straightforward numpy/scipy reference metrics (``benchmarks/_reference_metrics.py``)."""
    pytest.importorskip('sklearn')
    pytest.importorskip('skimage')
    return _load_module('_reference_metrics', REPO_ROOT / 'benchmarks' / '_reference_metrics.py')


@pytest.fixture(scope='session')
def eval_tool():
    """``tools/analysis_tools/eval_fusion.py`` as a module."""
    return _load_module('_eval_fusion_tool',
                        REPO_ROOT / 'tools' / 'analysis_tools' / 'eval_fusion.py')


@pytest.fixture(autouse=True)
def _one_torch_thread(one_torch_thread):
    """The metric tests run on one torch thread (``one_torch_thread`` in tests/conftest.py)."""
