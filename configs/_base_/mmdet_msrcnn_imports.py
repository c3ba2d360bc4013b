# Shared config fragment: import our package when the config is loaded (its
# classes live in the `mmdet_msrcnn` scope and the configs name them with
# that prefix), and opt in to loading runner checkpoints (message hub, numpy
# values) under torch's weights-only unpickler: `mim train` / `mim test`,
# `load_from` and `resume` then load our checkpoints without unsafe pickles.
# `import mmdet_msrcnn` alone changes no global state.
custom_imports = dict(
    imports=['mmdet_msrcnn', 'mmdet_msrcnn.utils.allow_runner_checkpoints'],
    allow_failed_imports=False)
