"""cldyn_mm as an OpenMMLab plugin (MIM packaging).

setup.py's ``add_mim_extension`` makes ``cldyn_mm/.mim/{configs,tools,model-index.yml}`` on
install; ``import cldyn_mm`` lets MMEngine resolve ``cldyn_mm::`` config paths (cldyn_mm/mim.py).
The promise checked here: a config written in the user's own folder that inherits
``cldyn_mm::`` files (and an ``mmdet::`` detector config) trains with mmdet's own
``tools/train.py`` (through ``python -m cldyn_mm``) and with this repository's installed
``tools/train.py``. Each run is a subprocess of 2 iterations on 96x64 generated pairs.
"""
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from mmengine.config import Config

import cldyn_mm
from cldyn_mm.mim import mim_dir
from cldyn_mm.testing.demo_data import generate_demo_dataset

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.usefixtures('one_torch_thread')


def load_setup_py():
    """setup.py as a module (``setup()`` runs only under ``__main__``)."""
    spec = importlib.util.spec_from_file_location('cldyn_mm_setup', REPO / 'setup.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ------------------------------------------------------------------------- add_mim_extension
@pytest.mark.parametrize(
    'argv, mode',
    [
        (['setup.py', 'editable_wheel', '--dist-dir', 'x'], 'symlink'),  # pip install -e (PEP 660)
        (['setup.py', 'develop'], 'symlink'),
        (['setup.py', 'bdist_wheel', '--dist-dir', 'x'], 'copy'),  # pip install .
        (['setup.py', 'sdist'], 'copy'),
        (['setup.py', 'egg_info'], None),
        (['setup.py', 'dist_info', '--output-dir', 'x'], None),
    ])
def test_install_mode_follows_the_setup_command(argv, mode):
    assert load_setup_py().mim_install_mode(argv) == mode


def fake_repo(root: Path) -> Path:
    (root / 'cldyn_mm').mkdir(parents=True)
    (root / 'configs' / 'vfn').mkdir(parents=True)
    (root / 'configs' / 'vfn' / 'a.py').write_text('x = 1\n')
    (root / 'tools').mkdir()
    (root / 'tools' / 'train.py').write_text('print(1)\n')
    (root / 'model-index.yml').write_text('Import: []\n')
    return root


def test_symlink_mode_links_the_working_tree_and_copy_mode_replaces_the_links(tmp_path):
    setup_py = load_setup_py()
    repo = fake_repo(tmp_path / 'repo')
    mim = repo / 'cldyn_mm' / '.mim'
    setup_py.add_mim_extension('symlink', str(repo))
    for name in ('configs', 'tools', 'model-index.yml'):
        assert (mim / name).is_symlink()
        assert not os.path.isabs(os.readlink(mim / name))  # relative: the checkout can move
        assert (mim / name).resolve() == (repo / name).resolve()
    (repo / 'configs' / 'vfn' / 'b.py').write_text('y = 2\n')  # edits show through at once
    assert (mim / 'configs' / 'vfn' / 'b.py').read_text() == 'y = 2\n'

    setup_py.add_mim_extension('copy', str(repo))  # e.g. a wheel built from the same checkout
    for name in ('configs', 'tools', 'model-index.yml'):
        assert not (mim / name).is_symlink()
    assert (mim / 'configs' / 'vfn' / 'b.py').read_text() == 'y = 2\n'
    assert (mim / 'model-index.yml').read_text() == 'Import: []\n'
    (repo / 'configs' / 'vfn' / 'a.py').write_text('x = 3\n')
    assert (mim / 'configs' / 'vfn' / 'a.py').read_text() == 'x = 1\n'  # a real copy

    with pytest.raises(ValueError, match='mode'):
        setup_py.add_mim_extension('hardlink', str(repo))


def test_installed_package_carries_the_mim_folder():
    """The install (tools/setup_env.sh: editable) made cldyn_mm/.mim from this checkout."""
    mim = Path(mim_dir())
    assert Path(cldyn_mm.__file__).parent / '.mim' == mim
    for rel in ('model-index.yml', 'configs/vfn/vfn_1xb8-200_demo.py',
                'configs/cldyn/cldyn_rtmdet-tiny_1xb4-200_demo.py', 'tools/train.py'):
        assert (mim / rel).is_file(), f'{mim / rel} missing: reinstall cldyn_mm (pip install -e .)'
        assert (mim / rel).read_bytes() == (REPO / rel).read_bytes(), rel


def test_cldyn_mm_prefix_resolves_to_the_installed_configs(tmp_path):
    cfg_file = tmp_path / 'mine.py'
    cfg_file.write_text("_base_ = ['cldyn_mm::vfn/vfn_1xb8-200_demo.py']\n"
                        'train_cfg = dict(max_iters=7)\n')
    cfg = Config.fromfile(str(cfg_file))
    assert cfg.train_cfg.max_iters == 7 and cfg.train_cfg.val_interval == 100  # merged
    assert cfg.model.type == 'VFNFuser' and cfg.default_scope == 'cldyn_mm'
    missing = tmp_path / 'missing.py'
    missing.write_text("_base_ = ['cldyn_mm::vfn/no_such_config.py']\n")
    with pytest.raises(FileNotFoundError, match='no_such_config'):
        Config.fromfile(str(missing))


def test_module_runner_arguments(tmp_path, capsys):
    from cldyn_mm.__main__ import main
    with pytest.raises(SystemExit) as exc:
        main([])
    assert exc.value.code == 2 and 'python -m cldyn_mm SCRIPT.py' in capsys.readouterr().out
    with pytest.raises(SystemExit, match='no such script'):
        main([str(tmp_path / 'nope.py')])


def test_module_runner_runs_the_script_as_main_with_its_arguments(tmp_path):
    script = tmp_path / 'tool.py'
    script.write_text('import sys, torch\n'
                      'from mmengine.config.utils import MODULE2PACKAGE\n'
                      'from mmengine.logging import HistoryBuffer\n'
                      'assert __name__ == "__main__"\n'
                      'print(sys.argv[1:], "cldyn_mm" in MODULE2PACKAGE,\n'
                      '      HistoryBuffer in torch.serialization.get_safe_globals())\n')
    proc = subprocess.run([sys.executable, '-m', 'cldyn_mm',
                           str(script), 'a', '--b'],
                          capture_output=True,
                          text=True,
                          timeout=300,
                          env=dict(os.environ, OMP_NUM_THREADS='1'))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "['a', '--b'] True True"


# ------------------------------------------------------- user configs trained by the tools
@pytest.fixture(scope='module')
def demo_root(tmp_path_factory) -> str:
    root = tmp_path_factory.mktemp('mim_demo')
    generate_demo_dataset(str(root), num_train=4, num_val=2, size=(96, 64), seed=0)
    return str(root) + '/'


def write_vfn_config(folder: Path, root: str) -> Path:
    """A user's VFN config: cldyn_mm's demo VFN on their data, small crops, 2 iterations."""
    path = folder / 'my_vfn.py'
    path.write_text(f"""_base_ = ['cldyn_mm::vfn/vfn_1xb8-200_demo.py']
root = {root!r}
loader = dict(num_workers=0, persistent_workers=False)
train_dataloader = dict(
    batch_size=2, **loader,
    dataset=dict(data_root=root, pipeline=[
        dict(type='LoadIRVisPair'),
        dict(type='mmdet.RandomCrop', crop_size=(48, 48)),
        dict(type='PackFusionInputs')]))
val_dataloader = dict(**loader, dataset=dict(data_root=root))
test_dataloader = val_dataloader
train_cfg = dict(max_iters=2, val_interval=2)
default_hooks = dict(checkpoint=dict(interval=2), logger=dict(interval=1))
""")
    return path


def write_cldyn_det_config(folder: Path, root: str) -> Path:
    """A user's closed loop: cldyn_mm's demo det closed loop whose frozen detector is the
    user's own config, inheriting mmdet's RTMDet-tiny through ``mmdet::``."""
    (folder / 'my_rtmdet.py').write_text(
        "_base_ = ['mmdet::rtmdet/rtmdet_tiny_8xb32-300e_coco.py']\n"
        "model = dict(bbox_head=dict(num_classes=3))  # person, car, sign\n")
    path = folder / 'my_cldyn_det.py'
    path.write_text(f"""_base_ = ['cldyn_mm::cldyn/cldyn_rtmdet-tiny_1xb4-200_demo.py']
root = {root!r}
model = dict(tasks=dict(det=dict(config='{{{{fileDirname}}}}/my_rtmdet.py')))
loader = dict(num_workers=0, persistent_workers=False)
pipeline = [
    dict(type='LoadIRVisPair'),
    dict(type='mmdet.LoadAnnotations', with_bbox=True),
    dict(type='mmdet.Resize', scale=(96, 64), keep_ratio=True),
    dict(type='PackPairedDetInputs'),
]
train_dataloader = dict(det=dict(batch_size=2, **loader,
                                 dataset=dict(data_root=root, pipeline=pipeline)))
val_dataloader = dict(det=dict(**loader, dataset=dict(data_root=root, pipeline=pipeline)))
test_dataloader = val_dataloader
train_cfg = dict(max_iters=2, val_interval=2)
default_hooks = dict(checkpoint=dict(interval=2), logger=dict(interval=1))
""")
    return path


def mmdet_train_py() -> Path:
    import mmdet
    path = Path(mmdet.__file__).parent / '.mim' / 'tools' / 'train.py'
    assert path.is_file(), f'mmdet ships no {path}'
    return path


def tool_command(tool: str, config: Path, work_dir: Path) -> list:
    if tool == 'mmdet':  # mmdet's own script, unmodified, with cldyn_mm imported first
        return [
            sys.executable, '-m', 'cldyn_mm',
            str(mmdet_train_py()),
            str(config), '--work-dir',
            str(work_dir)
        ]
    # this repository's tools/train.py as installed (what `mim train cldyn_mm` runs)
    return [
        sys.executable,
        os.path.join(mim_dir(), 'tools', 'train.py'),
        str(config), '--work-dir',
        str(work_dir), '--tensorboard', 'off'
    ]


def run_tool(cmd: list, cwd: Path) -> None:
    env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
    env.pop('PYTHONPATH', None)  # only what is installed
    proc = subprocess.run(cmd, cwd=str(cwd), env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f'{cmd} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}'


def train_records(work_dir: Path) -> list:
    scalars = next(work_dir.glob('*/vis_data/scalars.json'))
    return [json.loads(line) for line in scalars.read_text().splitlines()]


@pytest.mark.parametrize('tool', ['mmdet', 'cldyn_mm'])
def test_user_vfn_config_trains_with_the_tool(tool, demo_root, tmp_path):
    config = write_vfn_config(tmp_path, demo_root)
    work = tmp_path / 'work'
    run_tool(tool_command(tool, config, work), cwd=tmp_path)
    records = train_records(work)
    assert [r['iter'] for r in records if 'loss' in r] == [1, 2]
    assert any('fusion/EN' in r for r in records)  # validated with FusionQualityMetric at iter 2
    assert (work / 'iter_2.pth').is_file()


@pytest.mark.parametrize('tool', ['mmdet', 'cldyn_mm'])
def test_user_closed_loop_config_trains_with_the_tool(tool, demo_root, tmp_path):
    config = write_cldyn_det_config(tmp_path, demo_root)
    work = tmp_path / 'work'
    run_tool(tool_command(tool, config, work), cwd=tmp_path)
    records = train_records(work)
    train = [r for r in records if 'det/L1' in r]
    assert [r['iter'] for r in train] == [1, 2]
    assert (work / 'iter_2.pth').is_file()
    # the frozen detector is the user's RTMDet-tiny (3 classes) from the mmdet:: base
    dumped = Config.fromfile(str(next(work.glob('*/vis_data/config.py'))))
    assert dumped.model.tasks.det.config.endswith('my_rtmdet.py')
