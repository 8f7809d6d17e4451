"""cldyn_mm: task-customized infrared-visible image fusion (CLDyN) for OpenMMLab."""
from .version import __version__  # noqa: F401
