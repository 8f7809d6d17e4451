"""benchmarks/gpu_check.py: the CPU-side logic of the prepared GPU check (its steps, parsing and
table), run with --quick on the CPU; the figures of such a run mean nothing."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / 'benchmarks'))
import gpu_check  # noqa: E402


def test_parsers_read_the_benchmark_lines():
    log = ('cuda       16  VFN alone                     0.8        0.7    1250.0       300\n'
           'cuda       16  VFN+RSC batched               4.0        3.9     250.0      2100\n'
           'cuda        1  VFN+RSC batched               8.0        7.9     125.0       200\n'
           'cuda       16  batched vs loop: 9.00x faster\n')
    rows = gpu_check.parse_fusion(log, 'bf16')
    assert [(r['case'], r['batch'], r['pairs_per_s'], r['target'])
            for r in rows] == [('VFN alone', 16, 1250.0, 1000), ('VFN+RSC batched', 16, 250.0, 300),
                               ('VFN+RSC batched', 1, 125.0, 100)]
    assert gpu_check.parse_pytest('....\n2 passed, 1 skipped in 3.1s\n') == \
        '2 passed, 1 skipped in 3.1s'


def test_a_failing_or_slow_step_is_reported_and_the_rest_still_runs(tmp_path):
    bad = gpu_check.run_step('bad', [sys.executable, '-c', 'raise SystemExit(3)'], 30)
    slow = gpu_check.run_step('slow', [sys.executable, '-c', 'import time; time.sleep(5)'], 1)
    assert bad['status'] == 'failed (exit 3)'
    assert slow['status'] == 'timed out after 1 s'


def quick_run(tmp_path, *steps):
    out = tmp_path / 'out'
    proc = subprocess.run([
        sys.executable, 'benchmarks/gpu_check.py', '--device', 'cpu', '--quick', '--steps', *steps,
        '--out',
        str(out), '--work-dir',
        str(tmp_path / 'w')
    ],
                          cwd=REPO,
                          capture_output=True,
                          text=True,
                          timeout=900,
                          env={
                              **os.environ, 'OMP_NUM_THREADS': '1'
                          })
    text = (out / 'gpu_check.md').read_text()
    assert proc.returncode == 0, text + proc.stderr[-3000:]
    assert (out / 'gpu_check_logs.txt').is_file()
    return text


@pytest.mark.e2e
def test_quick_fusion_step_on_the_cpu_writes_its_table(tmp_path):
    """About 1-3 minutes: each case's memory is measured in a fresh process."""
    text = quick_run(tmp_path, 'fusion')
    assert '| fusion_fp32 | ok |' in text and '| fusion_bf16 | ok |' in text
    # one row per case, precision and batch
    rows = [ln for ln in text.splitlines() if ln.startswith(('| VFN alone', '| VFN+RSC'))]
    assert len(rows) == 8


@pytest.mark.e2e
def test_quick_run_of_every_cpu_step(tmp_path):
    """The closed-loop benchmark and the tools/train.py run too (about 5 minutes)."""
    text = quick_run(tmp_path, 'fusion', 'closed_loop', 'train')
    assert '| det | 64x48 | after |' in text and '| seg | 64x48 | before |' in text
    assert 's/iteration' in text and 'no timing logged' not in text
