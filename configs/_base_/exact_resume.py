# Shared config fragment: exact `--resume`. Every checkpoint carries the
# random-number states (python, numpy, torch, CUDA) and the train sampler's
# seed; a resumed run sets them again, so it continues as the uninterrupted
# run would (docs/troubleshooting.md, "Exact resume"). Needs the package
# import (mmdet_msrcnn_imports.py). A config with custom hooks of its own
# lists this one among them instead of inheriting this fragment.
custom_hooks = [dict(type='mmdet_msrcnn.RNGStateHook')]
