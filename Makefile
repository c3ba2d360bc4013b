# Set-up and entry points. Every target installs what it needs into .venv/
# (idempotent: a second run only checks stamps and takes seconds).
PY ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
PIP := $(VPY) -m pip
STAMP := $(VENV)/.stamps
MMCV_VERSION := 2.1.0
PYTEST_ARGS ?=

.PHONY: env test test-all demo demo-pair bench-speed clean-env

env: $(STAMP)/project

$(VPY):
	$(PY) -m venv $(VENV)

$(STAMP)/build: requirements/build.txt | $(VPY)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -r requirements/build.txt
	mkdir -p $(STAMP) && touch $@

# mmcv 2.1.0 has no wheel for this torch: build it from its sdist with the
# compiled ops (RoIAlign, NMS, Soft-NMS, DCN). pip caches the built wheel,
# keyed on the sdist, so rebuild by hand after changing torch.
$(STAMP)/mmcv: $(STAMP)/build
	MMCV_WITH_OPS=1 MAX_JOBS=$${MAX_JOBS:-2} $(PIP) install --no-build-isolation mmcv==$(MMCV_VERSION)
	touch $@

$(STAMP)/runtime: requirements/runtime.txt requirements/tests.txt $(STAMP)/mmcv
	$(PIP) install -q -r requirements/runtime.txt -r requirements/tests.txt
	touch $@

$(STAMP)/project: setup.cfg setup.py $(STAMP)/runtime
	$(PIP) install -q --no-build-isolation --no-deps -e .
	touch $@

# The optional deploy extras (mmdeploy, onnx, onnxruntime): the tests need
# them for tests/test_deployment, which skip without them.
$(STAMP)/deploy: requirements/deploy.txt $(STAMP)/runtime
	$(PIP) install -q -r requirements/deploy.txt
	touch $@

# The README's test command (CI runs exactly this).
test: env $(STAMP)/deploy
	$(VPY) -m pytest -q $(PYTEST_ARGS) tests

# Long runs (marked `slow`) as well.
test-all: env $(STAMP)/deploy
	$(VPY) -m pytest -q -m "slow or not slow" tests

# The main job: synthetic shapes set, train MS R-CNN, evaluate, plots.
demo: env
	$(VPY) tools/demo.py

# The demo with its Mask R-CNN twin, side by side.
demo-pair: env
	$(VPY) tools/demo.py --baseline

bench-speed: env
	$(VPY) tools/benchmark/speed.py

clean-env:
	rm -rf $(VENV)
