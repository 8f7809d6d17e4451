"""tools/run_demo_pipeline.py: config preparation and the results table (fast); the whole
chain with a few iterations per stage under ``-m e2e`` (about 4 minutes)."""
import importlib.util
import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def load_tool():
    spec = importlib.util.spec_from_file_location('run_demo_pipeline',
                                                  REPO / 'tools' / 'run_demo_pipeline.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_stage_configs_are_scaled_rooted_and_loaded_in_process(tmp_path):
    tool = load_tool()
    args = tool.parse_args(['--data-root', str(tmp_path / 'd'), '--max-val', '3'])
    cfg = tool.stage_config('configs/cldyn/cldyn_segformer-b0_1xb4-200_demo.py', args,
                            {'model.fuser.vfn_checkpoint': 'v.pth'})
    val = cfg.val_dataloader.seg
    assert val.dataset.data_root == str(tmp_path / 'd') + '/'
    assert val.dataset.indices == 3 and val.num_workers == 0
    resize = [t for t in val.dataset.pipeline if t['type'] == 'Resize'][0]
    assert resize['scale'] == (160, 128)
    assert cfg.test_dataloader.seg.dataset.pipeline[1]['scale'] == (160, 128)  # not twice
    assert 'indices' not in cfg.train_dataloader.seg.dataset


def test_results_table_has_a_row_per_input_and_fusion_columns():
    tool = load_tool()
    results = {
        'vis': {
            'mIoU': 40.0
        },
        'ir': {
            'mIoU': 45.0
        },
        'vfn': {
            'mIoU': 50.0,
            'fusion/EN': 6.5
        },
        'cldyn': {
            'mIoU': 51.5,
            'fusion/EN': 6.4
        }
    }
    table = tool.results_table('seg', results).splitlines()
    assert table[0] == '| input | mIoU | EN |'
    assert table[2] == '| VIS only | 40 | - |'
    assert table[5] == '| CLDyN fusion | 51.5 | 6.4 |'


@pytest.mark.e2e
def test_whole_chain_runs_and_prints_the_table(tmp_path):
    import subprocess
    work = tmp_path / 'pipe'
    cmd = [
        sys.executable,
        str(REPO / 'tools' / 'run_demo_pipeline.py'), '--work-dir',
        str(work), '--data-root',
        str(tmp_path / 'demo'), '--vfn-iters', '4', '--task-iters', '4', '--cl-iters', '4',
        '--max-val', '2'
    ]
    out = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=1200)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert '| CLDyN fusion |' in out.stdout
    results = json.loads((work / 'results.json').read_text())['results']
    assert set(results) == {'vis', 'ir', 'vfn', 'cldyn'}
    assert 'mIoU' in results['cldyn'] and 'fusion/EN' in results['cldyn']
    assert (work / 'closed_loop' / 'best.pth').is_file()
