"""What the tests share that is not a fixture (fixtures are in the conftest.py files): scenarios,
archives, command lines, the console's stand-in stack, synthesized templates, timelines."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the repository
