"""`make bench`: the demo's figures on this machine (bench/__main__.py)."""

import sys
from pathlib import Path

# tests/support/stack.py, which starts the demo for every section, imports
# scripts/preflight.py, which imports its sibling check_services.py by plain name,
# as a script does. pytest puts scripts/ on sys.path (pyproject.toml's pythonpath);
# `python -m bench` must do the same.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
