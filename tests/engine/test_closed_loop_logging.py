"""The closed-loop runtime's log processor: a logged line can be read as the formula says.

MMEngine's LogProcessor shows the window mean of keys that match ``mean_pattern`` and the
current value of the others. The closed-loop runtime config extends the pattern so that
``<task>/L0``, ``/L1``, ``/penalty`` and ``/alpha`` are window means like ``<task>/loss``:
then ``loss = L1 + 5 penalty`` holds for the numbers on one log line.
"""
from pathlib import Path
from types import SimpleNamespace

import pytest
from mmengine.config import Config
from mmengine.logging import MessageHub
from mmengine.registry import LOG_PROCESSORS

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def processor():
    cfg = Config.fromfile(str(REPO / 'configs/_base_/closed_loop/cldyn_runtime.py'))
    return LOG_PROCESSORS.build(cfg.log_processor)


def test_logged_values_are_window_means_that_obey_the_formula(processor):
    hub = MessageHub.get_instance('closed_loop_logging_test')
    # three iterations where the penalty is active once
    for l0, l1 in ((1.0, 0.8), (1.0, 1.2), (0.9, 0.6)):
        penalty = max(l1 - l0, 0.0)
        hub.update_scalars({
            'train/seg/L0': l0,
            'train/seg/L1': l1,
            'train/seg/penalty': penalty,
            'train/seg/loss': l1 + 5 * penalty,
            'train/seg/alpha': 1.0,
            'train/lr': 0.01
        })
    tag = processor._collect_scalars([], SimpleNamespace(message_hub=hub), 'train')
    assert tag['seg/L1'] == pytest.approx((0.8 + 1.2 + 0.6) / 3)
    assert tag['seg/L0'] == pytest.approx((1.0 + 1.0 + 0.9) / 3)
    assert tag['seg/penalty'] == pytest.approx(0.2 / 3)
    assert tag['seg/loss'] == pytest.approx(tag['seg/L1'] + 5 * tag['seg/penalty'])
    assert tag['lr'] == 0.01  # other keys keep MMEngine's current value
