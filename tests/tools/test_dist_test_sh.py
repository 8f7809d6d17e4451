"""tools/dist_test.sh: argument handling, and a 1-process torchrun evaluation on CPUs (gloo)
of a VFN demo checkpoint on 2 generated 96x64 pairs."""
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import MODELS

from cldyn_mm.testing.demo_data import generate_demo_dataset

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / 'tools' / 'dist_test.sh'
pytestmark = pytest.mark.usefixtures('one_torch_thread')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def test_too_few_arguments_print_the_usage():
    proc = subprocess.run(['bash', str(SCRIPT), 'cfg.py', 'ckpt.pth'],
                          capture_output=True,
                          text=True,
                          timeout=60)
    assert proc.returncode == 2
    assert 'usage:' in proc.stderr and 'CONFIG CHECKPOINT NUM_PROCS' in proc.stderr


def test_one_process_evaluates_a_vfn_checkpoint_on_cpu(tmp_path):
    root = tmp_path / 'demo'
    generate_demo_dataset(str(root), num_train=2, num_val=2, size=(96, 64), seed=0)
    config = REPO / 'configs' / 'vfn' / 'vfn_1xb8-200_demo.py'
    model = MODELS.build(Config.fromfile(str(config)).model)
    ckpt = tmp_path / 'vfn.pth'
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, ckpt)
    work = tmp_path / 'work'
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHON=sys.executable, PORT=str(free_port()))
    proc = subprocess.run([
        'bash',
        str(SCRIPT),
        str(config),
        str(ckpt), '1', '--work-dir',
        str(work), '--tensorboard', 'off', '--cfg-options',
        f'test_dataloader.dataset.data_root={root}/', 'test_dataloader.num_workers=0',
        'test_dataloader.persistent_workers=False'
    ],
                          capture_output=True,
                          text=True,
                          timeout=600,
                          env=env,
                          cwd=str(tmp_path))
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-5000:]
    assert 'CPU distributed' in out  # the gloo path of tools/test.py, not a plain run
    assert 'fusion/EN' in out and 'fusion/SSIM' in out  # the test evaluator's metrics
