"""Two visits compared (issue 23): a phantom head whose lesions appear, grow, stay and resolve between two
visits that are rotated, shifted, on other grids and at another intensity scale; through the engine and the
command line, and every refusal as one line."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import slicerio
from conftest import save_nifti
from lesion_phantoms import SPACING, VISIT_LESIONS, visit_pair
from UnsupervisedSegmentLib.change.visits import NEW, SHRINKING, STABLE, compare_visits
from UnsupervisedSegmentLib.cli import main
from UnsupervisedSegmentLib.core.errors import UserInputError
from UnsupervisedSegmentLib.core.volume import Channel, Grid

VOXEL_ML = float(np.prod(SPACING)) / 1000


def channels(images: dict[str, np.ndarray], affine: np.ndarray) -> list[Channel]:
    return [Channel(name, data, Grid(data.shape, affine)) for name, data in images.items()]


@pytest.fixture(scope="module")
def pair():
    return visit_pair()


@pytest.fixture(scope="module")
def comparison(pair):
    (base, base_affine), (follow, follow_affine), _, _ = pair
    return compare_visits(channels(base, base_affine), channels(follow, follow_affine))


def lesion_at(comparison, mask: np.ndarray):
    """The lesion row whose voxels include the most of ``mask``."""
    from scipy import ndimage

    either = comparison.labels > 0
    components, _ = ndimage.label(either, structure=np.ones((3, 3, 3), bool))
    found = np.bincount(components[mask & either])
    assert found[1:].sum() > 0, "the lesion was not found at all"
    label = int(np.argmax(found[1:]) + 1)
    order = list(dict.fromkeys(np.ravel(components, order="F")[np.ravel(components, order="F") > 0]))
    return comparison.lesions[order.index(label)]


def test_registration_recovers_the_head_motion(comparison):
    assert 4.5 < comparison.transform.rotation_degrees < 7.5  # the phantom turned by 6 degrees
    assert comparison.brain_overlap > 0.95


@pytest.mark.parametrize("name", list(VISIT_LESIONS))
def test_each_lesion_gets_its_change_class(comparison, pair, name):
    _, _, base_masks, follow_masks = pair
    lesion = lesion_at(comparison, base_masks[name] | follow_masks[name])
    assert lesion.change == name


def test_new_and_resolved_volumes(comparison, pair):
    _, _, base_masks, follow_masks = pair
    new = lesion_at(comparison, follow_masks["new"])
    resolved = lesion_at(comparison, base_masks["resolved"])
    truth = follow_masks["new"].sum() * VOXEL_ML
    assert 0.6 * truth < new.new_ml < 1.8 * truth  # the follow-up's thicker slices blur the edge
    assert new.baseline_ml == 0
    assert 0.6 * truth < resolved.shrinking_ml < 1.6 * truth and resolved.follow_up_ml == 0


def test_stable_lesion_has_no_change_and_the_change_map_leaves_it_out(comparison, pair):
    _, _, base_masks, _ = pair
    stable = lesion_at(comparison, base_masks["stable"])
    assert stable.new_ml == 0 and stable.shrinking_ml == 0
    assert stable.baseline_ml == stable.follow_up_ml > 0
    inside = base_masks["stable"]
    assert (comparison.labels[inside] == STABLE).mean() > 0.5
    assert not comparison.change[inside].any()


def test_nothing_changes_elsewhere(comparison, pair):
    _, _, base_masks, follow_masks = pair
    near_a_lesion = np.zeros_like(comparison.labels, bool)
    for mask in [*base_masks.values(), *follow_masks.values()]:
        near_a_lesion |= mask
    from scipy import ndimage
    near_a_lesion = ndimage.binary_dilation(near_a_lesion, iterations=3)
    stray = np.isin(comparison.labels, (NEW, SHRINKING)) & ~near_a_lesion
    assert stray.sum() * VOXEL_ML < 0.05


def change_threshold(comparison) -> float:
    """The change threshold the comparison's notes report."""
    return float(re.search(r"\|change\| > ([0-9.]+)", "\n".join(comparison.notes)).group(1))


def test_a_noisier_follow_up_raises_the_change_threshold(pair, comparison):
    (base, base_affine), (follow, follow_affine), base_masks, follow_masks = pair
    rng = np.random.default_rng(5)
    noisy = {name: np.abs(image + rng.normal(0, 40, image.shape) * (image > 0)).astype(np.float32)
             for name, image in follow.items()}
    result = compare_visits(channels(base, base_affine), channels(noisy, follow_affine))
    assert change_threshold(result) > change_threshold(comparison)
    near_a_lesion = np.zeros_like(result.labels, bool)
    for mask in [*base_masks.values(), *follow_masks.values()]:
        near_a_lesion |= mask
    from scipy import ndimage
    stray = np.isin(result.labels, (NEW, SHRINKING)) & ~ndimage.binary_dilation(near_a_lesion, iterations=3)
    assert stray.sum() * VOXEL_ML < 0.05
    assert (result.labels[follow_masks["new"] & ~base_masks["new"]] == NEW).mean() > 0.5


def test_an_enlarging_lesions_blurred_rim_counts_up_to_half_lesion(pair):
    """Both visits imaged with a point-spread function (partial volume at every edge): the ring an enlarging
    lesion gained is a lesion edge throughout, and is measured to within a third of its true volume."""
    from scipy import ndimage

    (base, base_affine), (follow, follow_affine), base_masks, follow_masks = pair
    blurred = [{name: ndimage.gaussian_filter(image, 0.7) for name, image in images.items()} for images in (base, follow)]
    result = compare_visits(channels(blurred[0], base_affine), channels(blurred[1], follow_affine))
    grown = lesion_at(result, follow_masks["enlarging"])
    truth = (follow_masks["enlarging"] & ~base_masks["enlarging"]).sum() * VOXEL_ML
    assert 0.67 * truth < grown.new_ml < 1.33 * truth


def test_same_pair_same_result(pair, comparison):
    (base, base_affine), (follow, follow_affine), _, _ = pair
    again = compare_visits(channels(base, base_affine), channels(follow, follow_affine))
    assert np.array_equal(again.labels, comparison.labels)


def test_inputs_are_not_modified(pair):
    (base, base_affine), (follow, follow_affine), _, _ = pair
    copies = {name: data.copy() for name, data in [*base.items(), *[("f" + n, d) for n, d in follow.items()]]}
    compare_visits(channels(base, base_affine), channels(follow, follow_affine))
    assert all(np.array_equal(base[n], copies[n]) for n in base)
    assert all(np.array_equal(follow[n], copies["f" + n]) for n in follow)


def write_visits(pair, folder: Path) -> tuple[list[str], list[str]]:
    (base, base_affine), (follow, follow_affine), _, _ = pair
    baseline = [str(save_nifti(data, folder / f"v1_{name}.nii.gz", base_affine)) for name, data in base.items()]
    follow_up = [str(save_nifti(data, folder / f"v2_{name}.nii.gz", follow_affine)) for name, data in follow.items()]
    return baseline, follow_up


def test_command_line_writes_every_output(pair, tmp_path, capsys):
    baseline, follow_up = write_visits(pair, tmp_path)
    out = tmp_path / "out"
    assert main(["compare", "--baseline", *baseline, "--follow-up", *follow_up, "--names", "flair", "t1",
                 "--output-dir", str(out), "-q"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["change.nii.gz", "lesions.csv", "registered_follow_up.nii.gz",
                                                     "report.png", "segmentation.seg.nrrd"]
    change = nib.load(out / "change.nii.gz")
    assert change.shape == nib.load(baseline[0]).shape
    assert np.allclose(change.affine, nib.load(baseline[0]).affine)
    assert set(np.unique(np.asarray(change.dataobj))) == {0, 1, 2}
    registered = nib.load(out / "registered_follow_up.nii.gz")
    assert registered.shape == change.shape
    segmentation = slicerio.read_segmentation(str(out / "segmentation.seg.nrrd"))
    assert [s["name"] for s in segmentation["segments"]] == ["New or enlarging", "Shrinking or resolved", "Stable lesion"]
    rows = list(csv.DictReader(open(out / "lesions.csv")))
    assert rows[-1]["lesion"] == "total"
    assert {row["change"] for row in rows[:-1]} >= {"new", "enlarging", "resolved", "stable"}
    assert float(rows[-1]["new_or_enlarging_ml"]) == pytest.approx(
        sum(float(row["new_or_enlarging_ml"]) for row in rows[:-1]), rel=1e-4)
    printed = capsys.readouterr().out
    assert "new or enlarging" in printed and "wrote: change.nii.gz" in printed


def refused(arguments: list[str], capsys) -> str:
    assert main([*arguments, "-q"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in lines[0]
    return lines[0]


def test_refusals_are_one_line(pair, tmp_path, capsys):
    baseline, follow_up = write_visits(pair, tmp_path)
    out = str(tmp_path / "out")
    assert "same sequences" in refused(["compare", "--baseline", *baseline, "--follow-up", follow_up[0],
                                        "--output-dir", out], capsys)
    assert "FLAIR or T2" in refused(["compare", "--baseline", baseline[1], "--follow-up", follow_up[1],
                                     "--names", "t1", "--output-dir", out], capsys)
    noise = np.random.default_rng(0).uniform(1, 500, (60, 60, 40)).astype(np.float32)
    other = str(save_nifti(noise, tmp_path / "noise.nii.gz", np.diag([1.5, 1.5, 1.5, 1.0])))
    message = refused(["compare", "--baseline", baseline[0], "--follow-up", other, "--names", "flair",
                       "--output-dir", out], capsys)
    assert "registering the follow-up" in message or "no brain" in message
    assert not Path(out).exists()


def test_a_comparison_that_needs_more_memory_than_is_free_is_refused_with_the_figure(pair, tmp_path, capsys,
                                                                                      monkeypatch):
    from UnsupervisedSegmentLib.core import option_checks

    baseline, follow_up = write_visits(pair, tmp_path)
    monkeypatch.setattr(option_checks, "available_memory_bytes", lambda: 1024**2)
    out = tmp_path / "out"
    message = refused(["compare", "--baseline", *baseline, "--follow-up", *follow_up, "--names", "flair", "t1",
                       "--output-dir", str(out)], capsys)
    assert "GiB of memory but only 0.0 GiB is available" in message and "baseline's flair" in message, message
    assert not out.exists()


def test_follow_up_is_paired_by_name_then_by_sequence(pair, comparison):
    """Listed in another order, or named by visit (visit2_FLAIR with visit1_FLAIR), the follow-up is paired by
    sequence; names that say nothing and differ are refused."""
    (base, base_affine), (follow, follow_affine), _, _ = pair
    base_channels = channels(base, base_affine)
    reordered = compare_visits(base_channels, channels(follow, follow_affine)[::-1])
    assert np.array_equal(reordered.labels, comparison.labels)
    by_visit = [Channel(f"visit2_{c.name.upper()}", c.data, c.grid) for c in channels(follow, follow_affine)[::-1]]
    renamed = compare_visits([Channel(f"visit1_{c.name.upper()}", c.data, c.grid) for c in base_channels], by_visit)
    assert np.array_equal(renamed.labels, comparison.labels)
    anonymous = [Channel(f"series{n}", c.data, c.grid) for n, c in enumerate(channels(follow, follow_affine))]
    with pytest.raises(UserInputError, match="cannot be paired"):
        compare_visits(base_channels, anonymous)


def test_batch_of_visit_pairs_summarises_change_and_shows_it_on_the_review_page(pair, tmp_path):
    pytest.importorskip("distributed")
    baseline, follow_up = write_visits(pair, tmp_path)
    manifest = tmp_path / "pairs.csv"
    manifest.write_text("case_id,baseline_flair,baseline_t1,follow_up_flair,follow_up_t1\n"
                        f"patient,{baseline[0]},{baseline[1]},{follow_up[0]},{follow_up[1]}\n"
                        f"missing,{baseline[0]},{baseline[1]},missing.nii.gz,{follow_up[1]}\n")
    out = tmp_path / "out"
    assert main(["batch", str(manifest), "--output-dir", str(out), "--workers", "1", "-q"]) == 1  # one pair fails
    rows = {row["case_id"]: row for row in csv.DictReader(open(out / "summary.csv"))}
    done = rows["patient"]
    assert done["status"] == "done"
    assert float(done["volume_ml_New or enlarging"]) > 0.3 and float(done["volume_ml_Shrinking or resolved"]) > 0.3
    assert int(done["lesions_new"]) >= 1 and int(done["lesions_resolved"]) >= 1 and int(done["lesions_stable"]) >= 1
    assert rows["missing"]["status"] == "failed" and "missing.nii.gz" in rows["missing"]["error"]
    assert sorted(p.name for p in (out / "patient").iterdir()) == [
        "case.json", "change.nii.gz", "lesions.csv", "registered_follow_up.nii.gz", "report.png", "review.json",
        "segmentation.seg.nrrd", "thumbnail.png"]
    page = (out / "review.html").read_text()
    assert "New or enlarging" in page and "patient/thumbnail.png" in page and "1 new" in page


def test_pair_manifest_columns_must_match(tmp_path):
    from UnsupervisedSegmentLib.cohort.manifest import read_manifest

    manifest = tmp_path / "pairs.csv"
    manifest.write_text("case_id,baseline_flair,follow_up_t2\na,x.nii.gz,y.nii.gz\n")
    with pytest.raises(UserInputError, match="same names in the same order"):
        read_manifest(manifest)
    manifest.write_text("case_id,baseline_flair,follow_up_flair\na,x.nii.gz,y.nii.gz\n")
    case = read_manifest(manifest)[0]
    assert case.names == ("flair",) and case.inputs[0].name == "x.nii.gz" and case.follow_up[0].name == "y.nii.gz"


def test_mrml_comparison_writes_segmentation_table_and_registered_volume(pair):
    """On real MRML (slicer-core): volume nodes of two visits in, change segmentation, lesion table and
    the registered follow-up out; the follow-up nodes, named by visit, are paired with the baseline by sequence."""
    slicer = pytest.importorskip("slicer")
    from UnsupervisedSegmentLib.mrml import logic as mrml_logic
    from UnsupervisedSegmentLib.mrml.headless import HeadlessSlicer
    from UnsupervisedSegmentLib.mrml.visits import compare_volume_nodes

    (base, base_affine), (follow, follow_affine), _, _ = pair
    app = HeadlessSlicer.create()
    try:
        def add(name, voxels, affine):
            node = app.scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", name)
            node.SetIJKToRASMatrix(mrml_logic.array_to_matrix(affine))
            node.SetAndObserveImageData(mrml_logic.image_from_array(voxels))
            return node

        baseline = [add(f"visit1 {name}", data, base_affine) for name, data in base.items()]
        follow_up = [add(f"visit2 {name}", data, follow_affine) for name, data in reversed(follow.items())]
        before = [slicer.util.arrayFromVolume(node).copy() for node in follow_up] if hasattr(slicer, "util") else None
        output = compare_volume_nodes(baseline, follow_up, app.scene)
        segmentation = output.segmentation_node.GetSegmentation()
        names = [segmentation.GetNthSegment(n).GetName() for n in range(segmentation.GetNumberOfSegments())]
        assert names == ["New or enlarging", "Shrinking or resolved", "Stable lesion"]
        table = output.table_node
        assert table.GetNumberOfRows() == len(output.comparison.lesions) + 1
        assert table.GetCellText(table.GetNumberOfRows() - 1, 0) == "total"
        assert "new" in {table.GetCellText(row, table.GetNumberOfColumns() - 1) for row in range(table.GetNumberOfRows())}
        registered = output.registered_volume_node
        assert registered.GetImageData().GetDimensions() == tuple(base["flair"].shape)
        assert output.comparison.registered_follow_up.name == "visit1 flair"  # paired by sequence, not by order
        if before is not None:
            assert all(np.array_equal(slicer.util.arrayFromVolume(n), b) for n, b in zip(follow_up, before))
    finally:
        app.scene.Clear(True)


@pytest.mark.parametrize("kind", ["tiny", "constant", "zeros"])
def test_images_without_a_brain_are_refused_in_one_line(tmp_path, capsys, kind):
    rng = np.random.default_rng(0)
    voxels = {"tiny": rng.uniform(0, 100, (5, 5, 5)), "constant": np.full((40, 40, 20), 7.0),
              "zeros": np.zeros((40, 40, 20))}[kind].astype(np.float32)
    path = str(save_nifti(voxels, tmp_path / "image.nii.gz", np.eye(4)))
    message = refused(["compare", "--baseline", path, "--follow-up", path, "--names", "flair",
                       "--output-dir", str(tmp_path / "out")], capsys)
    assert "no brain found in the baseline's flair" in message


def test_nan_and_infinite_voxels_are_background(pair):
    """NaN (outside a resampled input's field of view) and infinite voxels count as background: the comparison runs
    (an ITK registration given NaN never returns) and the input arrays are left as they were."""
    (base, base_affine), (follow, follow_affine), _, _ = pair
    follow = {name: data.copy() for name, data in follow.items()}
    follow["flair"][:, :, :3] = np.nan
    follow["t1"][:2] = np.inf
    result = compare_visits(channels(base, base_affine), channels(follow, follow_affine))
    assert {lesion.change for lesion in result.lesions} >= {"new", "resolved"}
    assert np.isnan(follow["flair"][:, :, :3]).all()


def test_registered_follow_up_is_the_flair_whatever_the_order(pair):
    (base, base_affine), (follow, follow_affine), _, _ = pair
    result = compare_visits(channels(base, base_affine)[::-1], channels(follow, follow_affine))
    assert result.registered_follow_up.name == "flair" and result.baseline.name == "flair"
    assert result.grid.same_as(Grid(base["t1"].shape, base_affine))  # the first input (here T1) is the output grid


def test_a_second_input_covering_less_does_not_cut_the_brain(pair):
    """A follow-up T1 (or T2) slab covering a third of the head (zero, or NaN once resampled, elsewhere): the
    registration check compares the brains in the first inputs, so the pair is compared, not refused."""
    (base, base_affine), (follow, follow_affine), _, _ = pair
    follow = {name: data.copy() for name, data in follow.items()}
    third = follow["t1"].shape[2] // 3
    follow["t1"][:, :, :third] = 0
    follow["t1"][:, :, 2 * third:] = np.nan
    result = compare_visits(channels(base, base_affine), channels(follow, follow_affine))
    assert result.brain_overlap > 0.95



@pytest.mark.parametrize("part", ["middle third", "top quarter cut off"])
def test_a_follow_up_slab_cutting_the_brain_is_registered_and_compared(pair, part):
    """A follow-up acquired as a thinner slab (every sequence): its centre of mass is centimetres from the
    baseline head's, so registration tries other starts too, and the brains are compared where both visits
    have an image; the pair is compared, not refused (both were refused before)."""
    (base, base_affine), (follow, follow_affine), _, _ = pair
    slices = follow["flair"].shape[2]
    start, stop = (slices // 3, slices - slices // 3) if part == "middle third" else (0, slices - slices // 4)
    slab = {name: np.ascontiguousarray(data[:, :, start:stop]) for name, data in follow.items()}
    slab_affine = follow_affine.copy()
    slab_affine[:3, 3] += follow_affine[:3, 2] * start
    result = compare_visits(channels(base, base_affine), channels(slab, slab_affine))
    assert result.brain_overlap > 0.95
    changes = {lesion.change for lesion in result.lesions}
    assert "resolved" in changes and changes & {"new", "enlarging"}
