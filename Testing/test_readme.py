"""The README shows what the demo prints: its output block is made by `make readme` from the demo's first
command, and this test runs that command and fails when the README shows anything else."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from conftest import SAMPLE_DIR
from UnsupervisedSegmentLib.cli import main

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "Resources" / "Scripts"))

from readme_demo import README, demo_block, readme_block  # noqa: E402


def test_the_readme_shows_what_the_demo_prints(tmp_path, capsys):
    pytest.importorskip("slicer")  # the demo renders its previews with slicer-core
    inputs = [SAMPLE_DIR / f"{name}.nii.gz" for name in ("t1", "t1_contrast", "flair", "adc")]
    assert main(["run", *map(str, inputs), "--names", "t1", "t1c", "flair", "adc", "--method", "gmm", "-k", "3",
                 "--preview", "-q", "--output-dir", str(tmp_path / "demo")]) == 0
    printed = capsys.readouterr().out
    assert readme_block(README.read_text(encoding="utf-8")) == demo_block(printed), "run `make readme`"


def test_the_make_target_runs_the_command_the_test_checks():
    makefile = (ROOT / "Makefile").read_text()
    command = "--names t1 t1c flair adc --method gmm -k 3 --preview -q --output-dir demo_output"
    assert command in makefile and "Resources/Scripts/readme_demo.py" in makefile
