"""Two visits of one patient compared end to end in memory: registration, change, lesions, table."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..core.errors import UserInputError
from ..core.lazy import lazy_module
from ..core.option_checks import check_comparison_workload
from ..core.palette import Segment
from ..core.roles import channel_role
from ..core.volume import MM3_PER_ML, Channel, Grid
from ..engine.morphology import FULL
from ..engine.smoothing import smooth
from ..lesion.rule import brain_regions, image_border
from .detection import ChangeMaps, detect_change
from .registration import RigidTransform, register_rigid, resample_through

ndimage = lazy_module("scipy.ndimage")

#: Labels of the change map (change.nii.gz) and of the segmentation (which adds the stable lesion).
NEW, SHRINKING, STABLE = 1, 2, 3
CHANGE_SEGMENTS = (Segment(NEW, "New or enlarging", (0.90, 0.16, 0.12)),
                   Segment(SHRINKING, "Shrinking or resolved", (0.16, 0.47, 0.90)),
                   Segment(STABLE, "Stable lesion", (0.98, 0.80, 0.20)))
#: The change classes of a lesion (lesions.csv, the batch summary), in this order.
CHANGE_CLASSES = ("new", "enlarging", "shrinking", "resolved", "stable")
#: Columns of the lesion table (lesions.csv, the Slicer table).
LESION_COLUMNS = ("lesion", "centre_r_mm", "centre_a_mm", "centre_s_mm", "baseline_ml", "follow_up_ml",
                  "new_or_enlarging_ml", "shrinking_or_resolved_ml", "change")
#: A registration whose brains, each found in its own visit's image, overlap (Dice, where both visits have an
#: image) less than this is refused (same patient: .97-.99, also with a follow-up slab; another patient's
#: head: .82-.91) ...
MIN_BRAIN_OVERLAP = 0.85
#: ... or whose first inputs, smoothed by CORRELATION_SMOOTHING_MM, correlate less than this inside the brains.
MIN_CORRELATION = 0.1
CORRELATION_SMOOTHING_MM = 2.0
#: A visit whose brain (the lesion rule's) is smaller than this is refused.
MIN_BRAIN_ML = 50.0


@dataclass(frozen=True)
class LesionChange:
    """One lesion (a 26-connected part of the lesion at either visit) and how it changed."""

    lesion_id: int
    centre_ras: tuple[float, float, float]
    baseline_ml: float
    follow_up_ml: float
    new_ml: float
    shrinking_ml: float
    change: str


@dataclass(frozen=True)
class VisitComparison:
    """The comparison of two visits on the baseline's first input grid."""

    grid: Grid
    labels: np.ndarray  # 0, NEW, SHRINKING, STABLE
    lesions: list[LesionChange]
    baseline: Channel  # the baseline's FLAIR (else T2), on its first input's grid
    registered_follow_up: Channel  # the follow-up's FLAIR (else T2) on the baseline grid
    transform: RigidTransform
    brain_overlap: float
    notes: list[str]

    def volume_ml(self, label: int) -> float:
        """The volume of the voxels with ``label`` (NEW, SHRINKING or STABLE) in mL."""
        return float(np.count_nonzero(self.labels == label) * self.grid.voxel_volume_mm3 / MM3_PER_ML)

    def lesion_counts(self) -> dict[str, int]:
        """The number of lesions per change class, every class of CHANGE_CLASSES in its order."""
        classes = [lesion.change for lesion in self.lesions]
        return {name: classes.count(name) for name in CHANGE_CLASSES}

    @property
    def change(self) -> np.ndarray:
        """0 unchanged (stable lesion voxels included), 1 new or enlarging, 2 shrinking or resolved."""
        return np.where(self.labels == STABLE, 0, self.labels).astype(np.uint8)


def paired_follow_up(baseline: Sequence[Channel], follow_up: Sequence[Channel]) -> list[Channel]:
    """The follow-up channels in the baseline's order and under its names: paired by name when both visits use
    the same names, else by the sequence the names say (``study2_FLAIR`` with ``study1_FLAIR``); UserInputError
    when neither pairs them."""
    names, others = [c.name for c in baseline], [c.name for c in follow_up]
    if len(names) != len(others):
        raise UserInputError(f"the follow-up has {len(others)} sequences and the baseline {len(names)}; give the "
                             "same sequences for both visits")
    if sorted(names) == sorted(others) and len(set(names)) == len(names):
        order = [others.index(name) for name in names]
    else:
        roles, other_roles = [channel_role(n) for n in names], [channel_role(n) for n in others]
        if None in roles + other_roles or len(set(roles)) != len(roles) or sorted(roles) != sorted(other_roles):
            raise UserInputError(f"the baseline's sequences ({', '.join(names)}) and the follow-up's "
                                 f"({', '.join(others)}) cannot be paired: give both visits the same names (--names), "
                                 "or names that say the sequence (flair, t1, t2)")
        order = [other_roles.index(role) for role in roles]
    return [Channel(base.name, follow_up[index].data, follow_up[index].grid, follow_up[index].source)
            for base, index in zip(baseline, order)]


def check_visits(baseline: Sequence[Channel]) -> None:
    """A one-line error unless a FLAIR or T2 is among the sequences."""
    names = [channel.name for channel in baseline]
    if not any(channel_role(name) in ("flair", "t2") for name in names):
        raise UserInputError(f"comparing visits needs a FLAIR or T2 among the sequences ({', '.join(names)}); "
                             "name it with --names (e.g. --names flair t1)")


def brain_of(channels: Sequence[Channel]) -> np.ndarray:
    """The lesion rule's brain in a visit's first input (the one registered): the other inputs' fields of view,
    often smaller (a T2 slab), do not cut it, so the brains of two visits compare whatever the others cover."""
    first = channels[0]
    data = {first.name: first.data}
    roles = {first.name: role} if (role := channel_role(first.name)) is not None else {}
    mask = np.asarray(first.data) != 0
    border = image_border(tuple(slice(0, n) for n in mask.shape), mask.shape)
    return brain_regions(mask, data, first.grid.spacing, roles, border)[1]


def finite_channels(channels: Sequence[Channel]) -> list[Channel]:
    """The channels with NaN and infinite voxels (outside a resampled input's field of view) set to 0, the
    background: copies where there are any (inputs are never modified)."""
    return [channel if np.isfinite(np.sum(channel.data, dtype=np.float64)) else
            Channel(channel.name, np.nan_to_num(channel.data, nan=0.0, posinf=0.0, neginf=0.0), channel.grid,
                    channel.source) for channel in channels]


def checked_brain(channels: Sequence[Channel], visit: str) -> np.ndarray:
    """A visit's brain; UserInputError when its first input shows none (constant, empty or too small)."""
    first = np.asarray(channels[0].data)
    inside = first != 0
    brain = brain_of(channels) if inside.any() and np.ptp(first[inside]) > 0 else np.zeros(first.shape, bool)
    volume = np.count_nonzero(brain) * channels[0].grid.voxel_volume_mm3 / MM3_PER_ML
    if volume < MIN_BRAIN_ML:
        raise UserInputError(f"no brain found in the {visit}'s {channels[0].name} ({volume:.0f} mL of brain-like "
                             f"tissue, at least {MIN_BRAIN_ML:g} mL expected): give whole-brain MRI of both visits")
    return brain


def on_baseline_grid(region: np.ndarray, follow_up: Channel, grid: Grid, transform: RigidTransform) -> np.ndarray:
    """A region on the follow-up's grid, registered onto the baseline ``grid`` (nearest voxel)."""
    moving = Channel(follow_up.name, region.astype(np.uint8), follow_up.grid, follow_up.source)
    return resample_through(moving, grid, transform, order=0) > 0


def smoothed_correlation(first: Channel, second: Channel, region: np.ndarray) -> float:
    """Pearson correlation of two images on one grid inside ``region``, both smoothed (noise does not count)."""
    if np.count_nonzero(region) < 2:
        return 0.0
    values = [smooth(np.asarray(c.data), CORRELATION_SMOOTHING_MM, first.grid.spacing)[region] for c in (first, second)]
    if min(np.std(v) for v in values) == 0:
        return 0.0
    return float(np.corrcoef(*values)[0, 1])


def compare_visits(baseline: Sequence[Channel], follow_up: Sequence[Channel]) -> VisitComparison:
    """Register ``follow_up`` onto ``baseline`` (each a visit's channels on its own first input's grid) and find
    what changed; a registration that leaves the brains apart is a UserInputError."""
    follow_up = paired_follow_up(baseline, follow_up)
    check_visits(baseline)
    check_comparison_workload(int(np.prod(baseline[0].grid.shape)), len(baseline), baseline[0].name)
    baseline, follow_up = finite_channels(baseline), finite_channels(follow_up)
    grid = baseline[0].grid
    base_brain = checked_brain(baseline, "baseline")
    follow_up_brain = checked_brain(follow_up, "follow-up")
    try:
        transform = register_rigid(baseline[0], follow_up[0], base_brain)
    except RuntimeError as error:  # ITK's own message: too few voxels to sample, a metric that cannot be computed
        reason = str(error).strip().splitlines()[-1].split(": ", 1)[-1]
        raise UserInputError(f"registering the follow-up {follow_up[0].name} onto the baseline failed ({reason}); "
                             "check that both visits are whole brain scans of the same patient") from None
    registered = [Channel(c.name, resample_through(c, grid, transform), grid, c.source) for c in follow_up]
    follow_brain = on_baseline_grid(follow_up_brain, follow_up[0], grid, transform)
    common = base_brain & on_baseline_grid(np.ones(follow_up_brain.shape, bool), follow_up[0], grid, transform)
    overlap = 2 * np.count_nonzero(common & follow_brain) / max(1, common.sum() + follow_brain.sum())
    agreement = smoothed_correlation(baseline[0], registered[0], base_brain & follow_brain)
    if overlap < MIN_BRAIN_OVERLAP or agreement < MIN_CORRELATION:
        raise UserInputError(f"registering the follow-up {follow_up[0].name} onto the baseline failed: the brains "
                             f"overlap {overlap:.0%} (at least {MIN_BRAIN_OVERLAP:.0%} expected), their intensities "
                             f"correlate {agreement:.2f} (at least {MIN_CORRELATION:g}); check that both visits are "
                             "the same patient's head and that the sequences are named alike")
    mask = (np.asarray(baseline[0].data) != 0) & (np.asarray(registered[0].data) != 0)
    maps = detect_change({c.name: c.data for c in baseline}, {c.name: c.data for c in registered}, mask, grid.spacing)
    labels = np.zeros(grid.shape, np.uint8)
    labels[maps.stable] = STABLE
    labels[maps.new] = NEW
    labels[maps.shrinking] = SHRINKING
    notes = [f"follow-up registered rigidly: rotated {transform.rotation_degrees:.1f} degrees, moved "
             f"{transform.translation_mm:.1f} mm; brains overlap {overlap:.0%}, intensities correlate {agreement:.2f}",
             *maps.notes]
    shown = next((index for role in ("flair", "t2") for index, c in enumerate(baseline) if channel_role(c.name) == role), 0)
    return VisitComparison(grid, labels, lesion_changes(maps, grid), baseline[shown], registered[shown], transform,
                           overlap, notes)


def lesion_changes(maps: ChangeMaps, grid: Grid) -> list[LesionChange]:
    """One row per 26-connected lesion of either visit, in order of its first voxel (i fastest)."""
    baseline, follow_up = maps.baseline_lesion, maps.follow_up_lesion  # each an OR of two maps: made once
    either = baseline | follow_up
    components, n = ndimage.label(either, structure=FULL)
    if n == 0:
        return []
    ml = grid.voxel_volume_mm3 / MM3_PER_ML
    order = np.ravel(components, order="F")
    first_seen = list(dict.fromkeys(order[order > 0]))  # components in storage order, i fastest
    counts = {name: np.bincount(components[part], minlength=n + 1) * ml
              for name, part in (("baseline", baseline), ("follow_up", follow_up),
                                 ("new", maps.new), ("shrinking", maps.shrinking))}
    centres = ndimage.center_of_mass(either, components, range(1, n + 1))
    rows = []
    for number, component in enumerate(first_seen, start=1):
        centre = grid.affine @ np.array([*centres[component - 1], 1.0])
        values = {name: float(count[component]) for name, count in counts.items()}
        rows.append(LesionChange(number, tuple(float(x) for x in centre[:3]), values["baseline"], values["follow_up"],
                                 values["new"], values["shrinking"], change_class(**values)))
    return rows


def change_class(baseline: float, follow_up: float, new: float, shrinking: float) -> str:
    """new, resolved, enlarging, shrinking or stable."""
    if baseline == 0:
        return "new"
    if follow_up == 0:
        return "resolved"
    if new > shrinking:
        return "enlarging"
    if shrinking > new:
        return "shrinking"
    return "stable"


def lesion_rows(comparison: VisitComparison) -> list[dict[str, object]]:
    """One row per lesion, then a ``total`` row (volumes summed; the change column counts lesions per class)."""
    rows = [dict(zip(LESION_COLUMNS, (lesion.lesion_id, *lesion.centre_ras, lesion.baseline_ml, lesion.follow_up_ml,
                                      lesion.new_ml, lesion.shrinking_ml, lesion.change)))
            for lesion in comparison.lesions]
    counts = "; ".join(f"{name} {count}" for name, count in comparison.lesion_counts().items() if count)
    total = {"lesion": "total", "centre_r_mm": "", "centre_a_mm": "", "centre_s_mm": "", "change": counts or "no lesion"}
    for column in ("baseline_ml", "follow_up_ml", "new_or_enlarging_ml", "shrinking_or_resolved_ml"):
        total[column] = float(sum(row[column] for row in rows))
    return rows + [total]
