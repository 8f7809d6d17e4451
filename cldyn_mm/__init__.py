"""cldyn_mm: task-customized infrared-visible image fusion (CLDyN) for OpenMMLab."""
from .mim import register_mim_package
from .version import __version__  # noqa: F401

# `cldyn_mm::` paths in configs (cldyn_mm/mim.py)
register_mim_package()
