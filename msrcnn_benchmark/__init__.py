"""Benchmark utilities of the tools in ``tools/benchmark``.

A package of its own beside ``mmdet_msrcnn``: the speed benchmark's phase
timers and call counters wrap methods and register hooks on the models they
measure, which the extension itself never does. Nothing in ``mmdet_msrcnn``
imports it; import the modules themselves.

Speed benchmark (``tools/benchmark/speed.py``):

* :mod:`.rows`: the implementations compared and the rows of the table;
* :mod:`.detectors`: the three detectors, built with shared weights, and
  their inference / training-step callables;
* :mod:`.inputs`: random images, ground truth and MaskIoU target cases;
* :mod:`.timing`: interleaved timing, statistics, paired ratios, call
  counting and phase timing;
* :mod:`.latency`: inference, training-step and mask-branch rows;
* :mod:`.targets`: MaskIoU target rows and the per-RoI loop check;
* :mod:`.breakdown`: MaskIoU parts of a training step and phase timings;
* :mod:`.macs`: multiply-add counts of the heads and the model;
* :mod:`.memory`: peak training memory, one subprocess per model;
* :mod:`.profiling`: torch.profiler and cProfile summaries;
* :mod:`.report`: verdicts, markdown and the printed summary;
* :mod:`.torchvision_ops`: mmcv's CUDA NMS / RoIAlign via torchvision.

Training benchmarks (``ablation.py``, ``demo_compare.py``, ``nuclei.py``):

* :mod:`.runs`: seed runs through ``tools/demo.py``, data subsets, probes;
* :mod:`.results`: metrics json and result tables.
"""
