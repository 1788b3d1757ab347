"""The fast path imports neither scikit-learn nor matplotlib (each costs a second or more of start-up),
and a run on NIfTI files, report included, loads neither them nor SimpleITK (a tenth of a second and
some 100 MB)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

LIB = Path(__file__).resolve().parents[1] / "UnsupervisedSegment"

SCRIPT = """
import sys
import numpy as np
from UnsupervisedSegmentLib.pipeline.segmentation import SegmentationOptions, segment_channels
from UnsupervisedSegmentLib.core.volume import Channel, Grid

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


RUN_SCRIPT = """
import sys
import nibabel as nib
import numpy as np
from UnsupervisedSegmentLib.cli import main

rng = np.random.default_rng(0)
for c in range(2):
    data = np.abs(rng.normal(100 + 50 * c, 20, (20, 20, 10))).astype(np.float32) + 1
    nib.save(nib.Nifti1Image(data, np.eye(4)), sys.argv[1] + f"/c{c}.nii.gz")
status = main(["run", sys.argv[1] + "/c0.nii.gz", sys.argv[1] + "/c1.nii.gz", "-q",
               "--output-dir", sys.argv[1] + "/out"])
heavy = ("sklearn", "matplotlib", "SimpleITK")
print(status, sorted({name.split(".")[0] for name in list(sys.modules) if name.split(".")[0] in heavy}))
"""


def test_a_nifti_run_with_its_report_loads_no_simpleitk_sklearn_or_matplotlib(tmp_path: Path) -> None:
    output = subprocess.run([sys.executable, "-c", RUN_SCRIPT, str(tmp_path)], cwd=LIB, capture_output=True,
                            text=True, check=True)
    assert output.stdout.strip().splitlines()[-1] == "0 []"


THREADS_SCRIPT = """
from concurrent.futures import ThreadPoolExecutor
from UnsupervisedSegmentLib.core.lazy import lazy_module

sitk = lazy_module("SimpleITK")
with ThreadPoolExecutor(8) as pool:  # the first reads race for the import
    print(sorted(set(pool.map(lambda _: sitk.ProcessObject.__name__, range(8)))))
"""


def test_a_lazy_module_imported_from_several_threads_at_once_is_whole() -> None:
    output = subprocess.run([sys.executable, "-c", THREADS_SCRIPT], cwd=LIB, capture_output=True, text=True, check=True)
    assert output.stdout.strip() == "['ProcessObject']"
