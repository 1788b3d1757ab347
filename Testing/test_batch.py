"""Cohort batch mode on real Dask: local workers, a broken case, resume after a kill, remote scheduler."""

from __future__ import annotations

import csv
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from conftest import make_phantom, save_nifti
from UnsupervisedSegmentLib.cli import main
from UnsupervisedSegmentLib.cohort.batch import case_is_complete, run_batch
from UnsupervisedSegmentLib.cohort.manifest import read_manifest
from UnsupervisedSegmentLib.cohort.runner import RunRequest
from UnsupervisedSegmentLib.core.errors import UserInputError
from UnsupervisedSegmentLib.core.output_files import SUMMARY_FILE

pytest.importorskip("distributed")
BIN = Path(sys.executable).parent


def write_cohort(folder: Path, n_cases: int, broken: str | None = "broken", shape=(40, 36, 12)) -> Path:
    """Phantom cases (two inputs each) and a manifest with paths relative to it; one case broken."""
    rows = []
    for n in range(n_cases):
        arrays, _ = make_phantom(shape=shape, seed=n)
        case = folder / "images" / f"case{n}"
        case.mkdir(parents=True)
        rows.append({"case_id": f"case{n}", "t1": str(save_nifti(arrays[0], case / "t1.nii.gz").relative_to(folder)),
                     "flair": str(save_nifti(arrays[1], case / "flair.nii.gz").relative_to(folder))})
    if broken:
        (folder / "images" / "broken.nii.gz").write_text("not an image")
        rows.append({"case_id": broken, "t1": "images/broken.nii.gz", "flair": "images/case0/flair.nii.gz"})
    manifest = folder / "manifest.csv"
    with open(manifest, "w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=["case_id", "t1", "flair"])
        writer.writeheader()
        writer.writerows(rows)
    return manifest


def read_summary(out: Path) -> dict[str, dict[str, str]]:
    with open(out / SUMMARY_FILE, newline="") as stream:
        return {row["case_id"]: row for row in csv.DictReader(stream)}


def test_two_local_workers_match_run_and_report_the_broken_case(tmp_path):
    manifest = write_cohort(tmp_path, 3)
    out = tmp_path / "out"
    status = main(["batch", str(manifest), "--output-dir", str(out), "--workers", "2", "--no-report", "-q"])
    assert status == 1, "a failed case makes the exit status 1"
    summary = read_summary(out)
    assert [summary[f"case{n}"]["status"] for n in range(3)] == ["done"] * 3
    assert summary["broken"]["status"] == "failed" and "cannot read" in summary["broken"]["error"]
    assert not (out / "broken").exists()
    for n in range(3):
        single = tmp_path / f"single{n}"
        images = tmp_path / "images" / f"case{n}"
        assert main(["run", str(images / "t1.nii.gz"), str(images / "flair.nii.gz"), "--names", "t1", "flair",
                     "--no-report", "-q", "--output-dir", str(single)]) == 0
        batch_labels = np.asarray(nib.load(str(out / f"case{n}" / "labels.nii.gz")).dataobj)
        np.testing.assert_array_equal(batch_labels, np.asarray(nib.load(str(single / "labels.nii.gz")).dataobj))
        assert (out / f"case{n}" / "statistics.csv").read_text() == (single / "statistics.csv").read_text()
        assert float(summary[f"case{n}"]["volume_ml_Cluster 1"]) > 0


def test_rerun_reuses_complete_cases_and_force_recomputes(tmp_path):
    manifest = write_cohort(tmp_path, 2, broken=None)
    out = tmp_path / "out"
    request = RunRequest(report=False)
    first = run_batch(read_manifest(manifest), out, request, workers=1)
    assert [row["run"] for row in first] == ["computed", "computed"]
    again = run_batch(read_manifest(manifest), out, request, workers=1)
    assert [row["run"] for row in again] == ["reused", "reused"]
    assert again[0]["volume_ml_Cluster 2"] == first[0]["volume_ml_Cluster 2"]
    forced = run_batch(read_manifest(manifest), out, request, workers=1, force=True)
    assert [row["run"] for row in forced] == ["computed", "computed"]


def test_killed_run_resumes_and_finishes_only_the_missing_cases(tmp_path):
    manifest = write_cohort(tmp_path, 6, broken=None, shape=(64, 60, 24))
    out = tmp_path / "out"
    command = [str(BIN / "unsupervised-segment"), "batch", str(manifest), "--output-dir", str(out), "--workers", "1",
               "--no-report", "-q"]
    process = subprocess.Popen(command, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not ((out / SUMMARY_FILE).exists() and len(read_summary(out)) >= 2):
        time.sleep(0.02)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    finished_before = {p.name for p in out.iterdir() if p.is_dir() and not p.name.startswith(".")}
    assert 2 <= len(finished_before) < 6, "the kill landed part-way"
    for name in finished_before:
        assert case_is_complete(out / name, RunRequest(report=False)), "a folder named after a case is a finished case"
    rows = run_batch(read_manifest(manifest), out, RunRequest(report=False), workers=1)
    assert {row["case_id"] for row in rows if row["run"] == "reused"} == finished_before
    assert all(row["status"] == "done" for row in rows)
    assert not list(out.glob(".partial-*"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_batch_through_a_separate_dask_scheduler_and_worker(tmp_path):
    manifest = write_cohort(tmp_path, 2)
    address = f"tcp://127.0.0.1:{free_port()}"
    environment = {**os.environ, "DASK_DISTRIBUTED__WORKER__DAEMON": "False"}
    scheduler = subprocess.Popen([str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1],
                                  "--no-dashboard"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=environment)
    worker = subprocess.Popen([str(BIN / "dask"), "worker", address, "--nworkers", "1", "--nthreads", "1", "--no-dashboard"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=environment)
    try:
        out = tmp_path / "out"
        status = main(["batch", str(manifest), "--output-dir", str(out), "--scheduler", address, "--no-report", "-q"])
        assert status == 1
        summary = read_summary(out)
        assert [summary[c]["status"] for c in ("case0", "case1", "broken")] == ["done", "done", "failed"]
    finally:
        for process in (worker, scheduler):
            process.terminate()
            process.wait(timeout=30)


@pytest.mark.parametrize(
    "content, message",
    [
        ("id,t1\na,x.nii.gz\n", "no 'case_id' column"),
        ("case_id,mask\na,m.nii.gz\n", "no input column"),
        ("case_id,t1\na,x.nii.gz\na,y.nii.gz\n", "appears twice"),
        ("case_id,t1\n../evil,x.nii.gz\n", "must be letters"),
        ("case_id,t1\n", "lists no case"),
    ],
)
def test_bad_manifests_are_user_errors(tmp_path, content, message):
    manifest = tmp_path / "m.csv"
    manifest.write_text(content)
    with pytest.raises(UserInputError, match=message):
        read_manifest(manifest)


def test_manifest_paths_are_relative_to_the_csv_and_mask_is_optional(tmp_path):
    manifest = tmp_path / "sub" / "m.csv"
    manifest.parent.mkdir()
    manifest.write_text("case_id,t1,flair,mask\np1,a/t1.nii.gz,a/f.nii.gz,a/m.nii.gz\np2,/abs/t1.nii.gz,b.nii.gz,\n")
    first, second = read_manifest(manifest)
    assert first.inputs[0] == (manifest.parent / "a" / "t1.nii.gz").resolve()
    assert first.names == ("t1", "flair") and first.mask == (manifest.parent / "a" / "m.nii.gz").resolve()
    assert second.inputs[0] == Path("/abs/t1.nii.gz") and second.mask is None


def test_sigterm_stops_a_batch_with_143_and_the_rerun_resumes(tmp_path):
    """What a scheduler's SIGTERM does to a batch: exit 143, no half-written case folder, and the same
    command afterwards reuses the cases already complete and computes the rest."""
    manifest = write_cohort(tmp_path, 4, broken=None, shape=(90, 84, 40))
    out = tmp_path / "out"
    command = [sys.executable, "-m", "UnsupervisedSegmentLib.cli", "batch", str(manifest), "--output-dir", str(out),
               "--workers", "1", "--no-report", "-q", "-k", "6", "--mrf-beta", "1"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (out / SUMMARY_FILE).exists() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    _, error = process.communicate(timeout=120)
    if process.returncode == 0:
        pytest.skip("the batch finished before the signal arrived")
    assert process.returncode == 143, error
    assert "terminated" in error and "Traceback" not in error
    finished = {p.name for p in out.iterdir() if p.is_dir() and not p.name.startswith(".")}
    assert all(case_is_complete(out / name, RunRequest(report=False)) for name in finished)
    assert 1 <= len(finished) < 4
    assert subprocess.run(command, capture_output=True, text=True, timeout=300).returncode == 0
    summary = read_summary(out)
    assert {row["status"] for row in summary.values()} == {"done"}
    assert sorted(name for name, row in summary.items() if row["run"] == "reused") == sorted(finished)


def test_a_full_disk_marks_the_case_failed_with_the_one_line(tmp_path, monkeypatch):
    """An OS error while a case is written (here: no space left) is that case's one-line error, as `run` prints it."""
    import errno

    import UnsupervisedSegmentLib.report.outputs as outputs
    from UnsupervisedSegmentLib.cohort.batch import process_case

    manifest = write_cohort(tmp_path, 1, broken=None)
    case = read_manifest(manifest)[0]

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(args[-1]))

    monkeypatch.setattr(outputs, "write_statistics_csv", full)
    row = process_case(case, tmp_path / "out", RunRequest(report=False))
    assert row["status"] == "failed" and "\n" not in row["error"]
    assert "cannot write" in row["error"] and "No space left on device" in row["error"]
    assert not (tmp_path / "out" / "case0").exists()
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".partial-")]
