"""The fast path imports neither scikit-learn nor matplotlib (each costs a second or more of start-up)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

LIB = Path(__file__).resolve().parents[1] / "UnsupervisedSegment"

SCRIPT = """
import sys
import numpy as np
from UnsupervisedSegmentLib.pipeline import SegmentationOptions, segment_channels
from UnsupervisedSegmentLib.volume import Channel, Grid

rng = np.random.default_rng(0)
grid = Grid((20, 20, 10), np.eye(4))
data = [np.abs(rng.normal(100 + 50 * c, 20, grid.shape)).astype(np.float32) + 1 for c in range(2)]
for method in ("gmm", "kmeans"):
    segment_channels([Channel(f"c{c}", d, grid) for c, d in enumerate(data)], SegmentationOptions(method=method))
print(sorted({name.split(".")[0] for name in sys.modules if name.split(".")[0] in ("sklearn", "matplotlib")}))
"""


def test_fast_engine_segmentation_imports_neither_sklearn_nor_matplotlib() -> None:
    output = subprocess.run([sys.executable, "-c", SCRIPT], cwd=LIB, capture_output=True, text=True, check=True)
    assert output.stdout.strip() == "[]"
