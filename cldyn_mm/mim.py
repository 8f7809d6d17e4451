"""Make ``cldyn_mm::`` config paths work in MMEngine, like ``mmdet::`` / ``mmseg::``.

MMEngine 0.10.x resolves ``_base_ = ['cldyn_mm::vfn/vfn_1xb8-200_demo.py']`` to
``<installed cldyn_mm>/.mim/configs/vfn/vfn_1xb8-200_demo.py`` (the ``.mim`` folder is made by
setup.py's ``add_mim_extension`` on install), but two things stop it for a package outside
OpenMMLab:

1. ``mmengine.config.utils.MODULE2PACKAGE`` is a fixed table of OpenMMLab packages; any other
   prefix fails with "mmengine does not support to load cldyn_mm config" (open-mmlab/mmengine
   issue 1410). Third-party packages add themselves to the table when imported.
2. Its installed-path lookup joins the distribution's location with the package name. For an
   editable install made by setuptools >= 64 (``pip install -e .``, and ``setup.py develop``
   since setuptools 80) that location is site-packages, which holds no ``cldyn_mm`` folder.
   The lookup is answered with the folder of the imported package instead, which is right for
   editable and regular installs alike (the ``.mim`` folder lives next to ``__init__.py``).

:func:`register_mim_package` does both, once; ``import cldyn_mm`` calls it. A config is parsed
before its ``custom_imports`` are imported, so a tool must import ``cldyn_mm`` before it reads a
config that names ``cldyn_mm::`` (this repository's tools do; for others, such as mmdet's
``tools/train.py``, use ``python -m cldyn_mm TOOL.py ARGS``; see README.md).
"""
import os.path as osp
import sys

PACKAGE = 'cldyn_mm'
PACKAGE_DIR = osp.dirname(osp.abspath(__file__))


def _wrap_installed_path(lookup):
    """``lookup`` (MMEngine's ``get_installed_path``), answering ``cldyn_mm`` with this
    package's folder."""
    if getattr(lookup, '_cldyn_mm_wrapped', False):
        return lookup

    def get_installed_path(package: str) -> str:
        if package == PACKAGE:
            return PACKAGE_DIR
        return lookup(package)

    get_installed_path._cldyn_mm_wrapped = True
    get_installed_path.__doc__ = lookup.__doc__
    get_installed_path.__wrapped__ = lookup
    return get_installed_path


def register_mim_package() -> None:
    """Let MMEngine's config loader resolve ``cldyn_mm::`` paths (idempotent)."""
    import mmengine.config.config as config_module
    from mmengine.config.utils import MODULE2PACKAGE

    MODULE2PACKAGE.setdefault(PACKAGE, PACKAGE)
    # Config._get_cfg_path and the lazy-import (``read_base``) parser call the name bound in
    # mmengine.config.config; the mmengine.utils function itself is left alone
    config_module.get_installed_path = _wrap_installed_path(config_module.get_installed_path)
    # mmengine.hub.get_config (``'pkg::path'`` -> Config) has its own binding; mmengine.hub
    # imports the runner, so it is wrapped once something has imported it (e.g.
    # cldyn_mm.models.task_adapters.load_task_config, which calls this again)
    hub_module = sys.modules.get('mmengine.hub.hub')
    if hub_module is not None:
        hub_module.get_installed_path = _wrap_installed_path(hub_module.get_installed_path)


def mim_dir() -> str:
    """``<package>/.mim``: the configs, tools and model index MMEngine and MIM read."""
    return osp.join(PACKAGE_DIR, '.mim')
