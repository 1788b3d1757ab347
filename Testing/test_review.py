"""The cohort review page: thumbnails from the batch workers, flags, and the page in a real headless Chromium."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from conftest import phantom_channels
from PIL import Image
from UnsupervisedSegmentLib.cli import main
from UnsupervisedSegmentLib.cohort.batch import run_batch
from UnsupervisedSegmentLib.cohort.manifest import read_manifest
from UnsupervisedSegmentLib.cohort.review import build_review, far_from_median
from UnsupervisedSegmentLib.cohort.runner import RunRequest
from UnsupervisedSegmentLib.core.output_files import REVIEW_FILE, REVIEW_PAGE, THUMBNAIL_FILE
from UnsupervisedSegmentLib.core.palette import LESION_COLOR
from UnsupervisedSegmentLib.pipeline.segmentation import SegmentationOptions, segment_channels
from UnsupervisedSegmentLib.report.thumbnail import (
    MAX_THUMBNAIL_BYTES,
    THUMBNAIL_SIZE,
    fraction_on_mask_border,
    write_case_review,
)

pytest.importorskip("distributed")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run", "--disable-sync"]
LESION_RGB = np.round(np.asarray(LESION_COLOR) * 255)


def tumour_case(folder: Path, radius: float, seed: int, shape=(40, 44, 24)) -> dict[str, str]:
    """FLAIR and T1c files of a brain-like ellipsoid with a bright spherical tumour of ``radius`` (of the half-width)."""
    rng = np.random.default_rng(seed)
    i, j, k = np.meshgrid(*[np.linspace(-1, 1, n) for n in shape], indexing="ij")
    brain = i**2 + j**2 + k**2 < 0.8
    tissue = brain & (np.sin(6 * i) * np.cos(5 * j) > 0)
    tumour = (i - 0.3) ** 2 + (j + 0.2) ** 2 + k**2 < radius**2
    images = {"flair": np.where(tissue, 1.0, 0.7) + 1.2 * tumour, "t1c": np.where(tissue, 0.8, 1.0) + 0.8 * tumour}
    folder.mkdir(parents=True)
    paths = {}
    for name, image in images.items():
        data = ((image + rng.normal(0, 0.1, shape)) * brain * 100).astype(np.float32)
        nib.save(nib.Nifti1Image(data, np.diag([1.2, 1.2, 2.0, 1.0])), str(folder / f"{name}.nii.gz"))
        paths[name] = str(folder / f"{name}.nii.gz")
    return paths


@pytest.fixture(scope="module")
def cohort_output(tmp_path_factory) -> Path:
    """A real 3-case batch with lesion finding and 3D previews: a large and a small tumour, and a broken case."""
    folder = tmp_path_factory.mktemp("cohort")
    rows = [{"case_id": "large", **tumour_case(folder / "large", 0.35, 1)},
            {"case_id": "small", **tumour_case(folder / "small", 0.27, 0)}]
    (folder / "broken.nii.gz").write_text("not an image")
    rows.append({"case_id": "broken", "flair": "broken.nii.gz", "t1c": "broken.nii.gz"})
    manifest = folder / "manifest.csv"
    with open(manifest, "w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=["case_id", "flair", "t1c"])
        writer.writeheader()
        writer.writerows(rows)
    request = RunRequest(options=SegmentationOptions(n_clusters=3, lesion=True), report=False, preview=True)
    out = folder / "out"
    statuses = [row["status"] for row in run_batch(read_manifest(manifest), out, request, workers=1)]
    assert statuses == ["done", "done", "failed"]
    return out


def test_batch_writes_thumbnails_review_facts_and_the_page(cohort_output):
    for case in ("large", "small"):
        thumbnail = cohort_output / case / THUMBNAIL_FILE
        assert 0 < thumbnail.stat().st_size <= MAX_THUMBNAIL_BYTES
        pixels = np.asarray(Image.open(thumbnail).convert("RGB"))
        assert max(pixels.shape[:2]) == THUMBNAIL_SIZE
        assert np.count_nonzero(np.abs(pixels.astype(int) - LESION_RGB).sum(axis=2) < 10) > 20, "lesion outline drawn"
        facts = json.loads((cohort_output / case / REVIEW_FILE).read_text())
        assert facts["focus"] == "largest lesion" and facts["lesion_fraction_on_mask_border"] == 0.0
        assert any("lesion type" in note for note in facts["notes"]), facts["notes"]
    page = (cohort_output / REVIEW_PAGE).read_text()
    assert page.count("<tr class=") == 3 and "cannot read" in page and "as NIfTI" in page
    assert "http://" not in page and "https://" not in page, "the page needs no network"


def test_review_command_rebuilds_the_page_and_rejects_a_folder_without_summary(cohort_output, tmp_path, capsys):
    copy = shutil.copytree(cohort_output, tmp_path / "copy")
    (copy / REVIEW_PAGE).unlink()
    assert main(["review", str(copy)]) == 0
    after_title = [(folder / REVIEW_PAGE).read_text().split("</h1>")[1] for folder in (copy, cohort_output)]
    assert after_title[0] == after_title[1]
    assert main(["review", str(tmp_path / "nothing")]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("unsupervised-segment: error: no summary.csv in") and "\n" not in error


def test_far_from_median_rule():
    assert far_from_median({"a": 60.0, "b": 61.0, "c": 62.0}) == {}
    assert far_from_median({"a": 60.0, "b": 60.0, "c": 95.0}) == {"c": 60.0}
    assert far_from_median({"a": 60.0, "b": 200.0}) == {}, "too few cases for a median"
    assert far_from_median({"a": 10.0, "b": 12.0, "c": 11.0, "d": 9.0, "e": 2.0}) == {"e": 10.0}


def test_fraction_of_a_lesion_on_the_mask_border():
    mask = np.zeros((9, 9, 3), bool)
    mask[1:8, 1:8, :] = True
    inner = np.zeros_like(mask)
    inner[4, 4, 1] = True
    edge = np.zeros_like(mask)
    edge[1, 4, 1] = True
    assert fraction_on_mask_border(inner, mask) == 0.0 and fraction_on_mask_border(edge, mask) == 1.0
    assert fraction_on_mask_border(inner | edge, mask) == 0.5


def test_thumbnail_of_a_run_without_lesion_is_small_and_outlines_every_segment(tmp_path):
    channels, _ = phantom_channels(shape=(120, 110, 10))
    result = segment_channels(channels, SegmentationOptions(n_clusters=3))
    write_case_review(result, ["note: a note", "warning: a <warning>"], tmp_path)
    data = (tmp_path / THUMBNAIL_FILE).read_bytes()
    assert len(data) <= MAX_THUMBNAIL_BYTES
    pixels = np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).astype(int)
    for segment in result.segments:
        colour = np.round(np.asarray(segment.color) * 255)
        assert np.count_nonzero(np.abs(pixels - colour).sum(axis=2) < 10) > 20, segment.name
    facts = json.loads((tmp_path / REVIEW_FILE).read_text())
    assert facts["notes"] == ["a note"] and facts["warnings"] == ["a <warning>"]
    assert facts["focus"].startswith("largest segment") and facts["lesion_fraction_on_mask_border"] is None


def test_page_escapes_user_strings_and_flags_warnings_and_far_volumes(tmp_path):
    rows = [{"case_id": f"c{n}", "status": "done", "error": "", "k": "3", "lesion_volume_ml": str(v)}
            for n, v in enumerate([10.0, 11.0, 12.0, 40.0])]
    rows.append({"case_id": "odd", "status": "done", "error": "", "k": "3", "lesion_volume_ml": "n/a"})
    rows.append({"case_id": "bad", "status": "failed", "error": "<script>alert(1)</script> & more", "k": "",
                 "lesion_volume_ml": ""})
    with open(tmp_path / "summary.csv", "w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    (tmp_path / "c0").mkdir()
    (tmp_path / "c0" / "labels.nii.gz").write_bytes(b"")
    (tmp_path / "c0" / REVIEW_FILE).write_text(json.dumps({"warnings": ["odd <b>thing</b>"], "notes": []}))
    for case, fraction in (("c1", 0.1), ("c2", 0.5)):
        (tmp_path / case).mkdir()
        (tmp_path / case / REVIEW_FILE).write_text(json.dumps({"lesion_fraction_on_mask_border": fraction}))
    page = build_review(tmp_path).read_text()
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in page
    assert "odd &lt;b&gt;thing&lt;/b&gt;" in page
    flagged = [line for line in page.splitlines() if 'data-attention="yes"' in line]
    assert [line.split('data-case="')[1].split('"')[0] for line in flagged] == ["c0", "c2", "c3", "bad"]
    assert "lesion 40 mL is far from the median of the cohort (11.5 mL)" in page
    assert "the lesion touches the mask border (50% of its voxels on it)" in page


def chromium_path() -> str:
    """Debian's chromium, or a skip saying how to get it."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.skip("no chromium on PATH: apt-get install chromium (.ci/run installs it)")
    return path


def test_page_in_headless_chromium_shows_sorts_and_filters_the_cases(cohort_output, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is in the test extra: pip install -e '.[test]'")
    executable = chromium_path()
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1600})
            page.goto((cohort_output / REVIEW_PAGE).resolve().as_uri())
            page.wait_for_load_state("load")
            order = lambda: page.eval_on_selector_all("#cases tbody tr", "rows => rows.map(r => r.dataset.case)")
            visible = lambda: page.eval_on_selector_all("#cases tbody tr", "rows => rows.filter(r => !r.hidden && r.offsetHeight > 0).map(r => r.dataset.case)")
            assert order() == ["large", "small", "broken"] == visible()
            assert page.text_content("#shown") == "3 of 3 cases shown"
            sizes = page.eval_on_selector_all("#cases img", "images => images.map(i => i.complete ? Math.max(i.naturalWidth, i.naturalHeight) : 0)")
            assert sizes == [THUMBNAIL_SIZE, 800] * 2, "thumbnails and 3D previews loaded from disk"
            assert "as NIfTI" in page.text_content("tr[data-case=broken]")

            page.click("button[data-sort=lesion]")
            assert order() == ["small", "large", "broken"], "ascending lesion volume, the failed case last"
            page.click("button[data-sort=lesion]")
            assert order() == ["large", "small", "broken"]
            assert page.get_attribute("th:has(button[data-sort=lesion])", "aria-sort") == "descending"

            thumbnail = Image.open(io.BytesIO(page.locator("tr[data-case=large] img").first.screenshot())).convert("RGB")
            pixels = np.asarray(thumbnail).astype(int)
            assert np.count_nonzero(np.abs(pixels - LESION_RGB).sum(axis=2) < 30) > 20, "the lesion outline is on screen"
            screen = np.asarray(Image.open(io.BytesIO(page.screenshot(full_page=True))).convert("L"))
            assert screen.std() > 20 and np.count_nonzero(screen < 100) > 1000, "the page is not blank"

            page.select_option("#filter", "attention")
            assert visible() == ["broken"], "only the failed case is left"
            assert page.text_content("#shown") == "1 of 3 cases shown"
            page.select_option("#filter", "all")
            assert visible() == ["large", "small", "broken"]
        finally:
            browser.close()
