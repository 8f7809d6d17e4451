"""Install cldyn_mm. The OpenMMLab stack itself is installed by tools/setup_env.sh, because
mmcv must be compiled against the installed torch; see README.md."""
import os
import os.path as osp
import platform
import shutil
import sys
from setuptools import find_packages, setup

# What MIM / MMEngine look for in an installed OpenMMLab package: ``cldyn_mm::x/y.py`` in a
# config's ``_base_`` is read from ``<package>/.mim/configs/x/y.py``, and ``mim train
# cldyn_mm`` runs ``<package>/.mim/tools/train.py``.
MIM_FILES = ('configs', 'tools', 'model-index.yml')


def read_version():
    scope = {}
    with open(osp.join(osp.dirname(__file__), 'cldyn_mm', 'version.py')) as f:
        exec(f.read(), scope)
    return scope['__version__']


def mim_install_mode(argv):
    """How ``add_mim_extension`` puts the files in place for this setup.py invocation.

    ``'symlink'`` for an editable install (``pip install -e .`` runs ``editable_wheel`` with
    setuptools >= 64, ``setup.py develop`` the legacy way), so ``.mim`` follows the working tree;
    ``'copy'`` when a wheel or an sdist is built (``pip install .``); ``None`` for anything
    else (``egg_info``, ``dist_info``, ``clean``, ...), which must not touch the tree.
    """
    if 'develop' in argv or 'editable_wheel' in argv:
        # symlinks need privileges on Windows
        return 'copy' if platform.system() == 'Windows' else 'symlink'
    if any(cmd in argv for cmd in ('bdist_wheel', 'sdist', 'build', 'install')):
        return 'copy'
    return None


def add_mim_extension(mode, repo_root=None):
    """Create ``cldyn_mm/.mim/{configs,tools,model-index.yml}`` from the repository files.

    Args:
        mode (str | None): ``'symlink'`` (relative links, for editable installs), ``'copy'``
            (real files, shipped inside wheels and sdists) or None (do nothing).
        repo_root (str, optional): The repository; defaults to this file's folder.

    A previous ``.mim`` entry of either kind is replaced, so switching between an editable and
    a regular install leaves no stale copy behind.
    """
    if mode is None:
        return
    if mode not in ('symlink', 'copy'):
        raise ValueError(f"mode must be 'symlink', 'copy' or None, got {mode!r}")
    repo_root = osp.abspath(repo_root or osp.dirname(__file__))
    mim_dir = osp.join(repo_root, 'cldyn_mm', '.mim')
    os.makedirs(mim_dir, exist_ok=True)
    for name in MIM_FILES:
        src = osp.join(repo_root, name)
        dst = osp.join(mim_dir, name)
        if not osp.exists(src):
            continue
        if osp.islink(dst) or osp.isfile(dst):
            os.remove(dst)
        elif osp.isdir(dst):
            shutil.rmtree(dst)
        if mode == 'symlink':
            os.symlink(osp.relpath(src, mim_dir), dst)
        elif osp.isdir(src):
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))
        else:
            shutil.copyfile(src, dst)


if __name__ == '__main__':
    add_mim_extension(mim_install_mode(sys.argv))
    setup(
        name='cldyn_mm',
        version=read_version(),
        description='CLDyN task-customized infrared-visible image fusion for OpenMMLab',
        long_description=open(osp.join(osp.dirname(__file__), 'README.md')).read()
        if osp.exists(osp.join(osp.dirname(__file__), 'README.md')) else '',
        long_description_content_type='text/markdown',
        packages=find_packages(exclude=('tests', 'tests.*', 'configs', 'tools', 'benchmarks')),
        python_requires='>=3.8',
        install_requires=[
            'torch>=2.0', 'mmengine>=0.10.0,<1.0', 'mmcv>=2.0.0,<2.2.0', 'mmdet>=3.0.0,<3.4.0',
            'mmsegmentation>=1.0.0,<1.3.0', 'numpy', 'opencv-python-headless', 'tqdm',
        ],
        # ONNX export and onnxruntime inference (docs/deployment.md; pinned in
        # requirements/deploy.txt)
        extras_require={'deploy': ['onnx>=1.23', 'onnxruntime>=1.32']},
        # weights of the models in model-index.yml ship inside the package (docs/inference.md)
        # and, in a wheel, the .mim copies made by add_mim_extension
        package_data={'cldyn_mm': [
            'model_zoo/weights/*.pth', 'model_zoo/weights/README.md', '.mim/model-index.yml',
            '.mim/configs/**/*', '.mim/tools/**/*'
        ]},
        include_package_data=True,
        license='Apache License 2.0',
        zip_safe=False,
    )
