"""Shared test fixtures.

Real sample data lives in ``../shared/data`` next to the repository (or wherever
``CLDYN_SHARED_DATA`` points). Tests that need it use the ``shared_data`` fixture and are
skipped cleanly when it is absent. Nothing from it is ever copied into the repository.
"""
import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_data_root() -> Path:
    env = os.environ.get('CLDYN_SHARED_DATA')
    return Path(env) if env else REPO_ROOT.parent / 'shared' / 'data'


@pytest.fixture(scope='session')
def shared_data() -> Path:
    root = shared_data_root()
    if not (root / 'ivif_pairs').is_dir():
        pytest.skip(f'shared sample data not found at {root} (set CLDYN_SHARED_DATA)')
    return root


@pytest.fixture(autouse=True, scope='session')
def _register_modules():
    from cldyn_mm.utils import register_all_modules
    register_all_modules(init_default_scope=True)


@pytest.fixture(scope='module')
def one_torch_thread():
    """One intra-op torch thread for a module of tests on tiny tensors (restored after).

    On a 2-core machine shared with other jobs, torch's second OpenMP thread mostly waits for
    a busy core, which made such tests several times slower. Use with
    ``pytestmark = pytest.mark.usefixtures('one_torch_thread')``.
    """
    import torch
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def mmengine_log():
    """Messages logged through MMEngine's current logger during the test."""
    import logging

    from mmengine.logging import MMLogger

    class Collect(logging.Handler):

        def __init__(self):
            super().__init__(logging.DEBUG)
            self.messages = []

        def emit(self, record):
            self.messages.append(record.getMessage())

    logger = MMLogger.get_current_instance()
    handler = Collect()
    logger.addHandler(handler)
    yield handler.messages
    logger.removeHandler(handler)
