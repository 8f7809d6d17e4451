"""tools/analysis_tools/val_curve.py: validation metrics per iteration across resumed runs."""
import importlib.util
import json
from pathlib import Path

TOOL = Path(__file__).resolve().parents[2] / 'tools' / 'analysis_tools' / 'val_curve.py'


def load():
    spec = importlib.util.spec_from_file_location('val_curve', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_run(root, stamp, records):
    d = root / stamp / 'vis_data'
    d.mkdir(parents=True)
    (d / 'scalars.json').write_text('\n'.join(json.dumps(r) for r in records) + '\n')


def test_resumed_runs_give_one_row_per_validated_iteration(tmp_path, capsys):
    # MMEngine's default LoggerHook logs validation at step = epoch (0) in iteration-based
    # training: the row takes the iteration of the preceding training record
    write_run(tmp_path, '20260101_000000', [
        dict(lr=1e-3, loss=0.3, step=50),
        dict(lr=1e-3, loss=0.2, step=100), {
            'fusion/EN': 6.1,
            'fusion/Qabf': 0.5,
            'step': 0
        },
        dict(lr=1e-3, loss=0.2, step=150)
    ])
    write_run(
        tmp_path,
        '20260102_000000',
        [  # resumed from 100: 150 repeated, then 200
            dict(lr=1e-3, loss=0.2, step=150),
            dict(lr=1e-3, loss=0.1, step=200), {
                'fusion/EN': 6.4,
                'fusion/Qabf': 0.6,
                'step': 200
            }
        ])
    (tmp_path / 'ref.csv').write_text('method,EN,Qabf\nSeAFusion,6.7,0.66\n')
    assert load().main([str(tmp_path), '--ref', f'SeAFusion={tmp_path / "ref.csv"}']) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[0] == '| iteration | EN | Qabf |'
    assert out[2:] == ['| 100 | 6.1 | 0.5 |', '| 200 | 6.4 | 0.6 |', '| SeAFusion | 6.7 | 0.66 |']


def test_missing_logs_are_one_line_errors(tmp_path, capsys):
    assert load().main([str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and 'scalars.json' in err[0]
