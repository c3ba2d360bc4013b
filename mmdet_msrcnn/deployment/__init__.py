"""Deployment: export the mask scoring detectors to ONNX (mmdeploy).

Needs the optional ``deploy`` extras (``pip install -e .[deploy]``:
mmdeploy 1.3.1, onnx, onnxruntime); ``import mmdet_msrcnn`` never imports
this package. Importing it registers with mmdeploy:

* :mod:`.compat`: what mmdeploy 1.3.1 needs from torch 2.13's exporter;
* :mod:`.rewriters`: the export path of our mask scoring RoI heads
  (outputs ``dets``, ``labels``, ``masks``, ``mask_ious``) and, for ONNX
  Runtime, mmdet's own RPN and R-CNN post-processing.

A deploy config names this package in ``custom_imports``, so mmdeploy's
own tools load it too. See ``docs/deployment.md``.
"""
try:
    import mmdeploy  # noqa: F401
except ImportError as err:  # pragma: no cover
    raise ImportError(
        'mmdet_msrcnn.deployment needs mmdeploy, onnx and onnxruntime: '
        'install the deploy extras with `pip install -e .[deploy]` '
        f'(requirements/deploy.txt). ({err})') from err

from . import compat, rewriters  # noqa: F401,E402
from .export import (OUTPUT_NAMES, export_checkpoint, export_model,  # noqa
                     load_configs, make_input)
from .runtime import (ORTMaskScoringDetector, paste_masks,  # noqa: E402
                      to_instances)

__all__ = [
    'OUTPUT_NAMES', 'export_checkpoint', 'export_model', 'load_configs',
    'make_input', 'ORTMaskScoringDetector', 'paste_masks', 'to_instances'
]
