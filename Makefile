# Two commands on a fresh machine (README "Two commands"); each first sets up .venv
# (tools/setup_env.sh: idempotent; about 15 minutes cold, 1.5 with the kept mmcv wheel,
# seconds when it is already there).
#   make demo       the main job on the embedded default: generates the demo pairs, fuses them
#                   with the shipped model (vfn_ivif) and prints its fusion-quality table
#   make test       the lint checks, then the test suite (what .ci/run runs)
# Further targets:
#   make pipeline   the whole chain on the demo data (VFN -> task network -> closed loop, about
#                   8 minutes; TASK=seg|det|sod), tools/run_demo_pipeline.py
#   make lint       flake8, isort and yapf checks (setup.cfg; `make format` applies isort + yapf)
#   make e2e        the long end-to-end tests
#   make setup      only the environment
PY ?= .venv/bin/python
TASK ?= seg
DEMO_OUT ?= work_dirs/demo_fused

LINT_DIRS = cldyn_mm tools tests benchmarks configs

.PHONY: setup demo test pipeline lint format e2e

setup:
	bash tools/setup_env.sh

demo: setup
	$(PY) tools/dataset_converters/make_demo_data.py
	$(PY) tools/fuse.py --ir data/demo/ir --vi data/demo/vi --out $(DEMO_OUT)/vfn_ivif --no-progress
	$(PY) tools/analysis_tools/eval_fusion.py --ir data/demo/ir --vi data/demo/vi --fused $(DEMO_OUT)/vfn_ivif \
		--names vfn_ivif --metrics EN SD SF MI SCD VIF Qabf SSIM --out $(DEMO_OUT)/metrics \
		--no-progress

test: lint
	$(PY) -m pytest -q

pipeline: setup
	$(PY) tools/run_demo_pipeline.py --task $(TASK)

lint: setup
	$(PY) -m flake8 $(LINT_DIRS)
	$(PY) -m isort --check-only --quiet $(LINT_DIRS)
	$(PY) -m yapf --diff --recursive $(LINT_DIRS)

format: setup
	$(PY) -m yapf --in-place --recursive --parallel $(LINT_DIRS)
	$(PY) -m isort --quiet $(LINT_DIRS)

e2e: setup
	$(PY) -m pytest -q -m e2e
