from .closed_loop import *  # noqa: F401,F403
from .data_preprocessors import *  # noqa: F401,F403
from .fusers import *  # noqa: F401,F403
from .fusion import *  # noqa: F401,F403
from .losses import *  # noqa: F401,F403
from .task_adapters import *  # noqa: F401,F403
from .task_wrappers import *  # noqa: F401,F403
