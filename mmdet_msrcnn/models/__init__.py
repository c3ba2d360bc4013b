from .detectors import *  # noqa: F401,F403
from .mask_heads import *  # noqa: F401,F403
from .roi_heads import *  # noqa: F401,F403
from .utils import *  # noqa: F401,F403
