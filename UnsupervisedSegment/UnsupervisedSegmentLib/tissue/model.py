"""Brain tissue classes (CSF, grey matter, white matter) with partial volume, bias field and MRF prior.

A 3-class intensity mixture is not a tissue model: at 1 mm a large share of the brain's voxels
mix CSF with grey matter or grey with white matter; their intensities lie between the pure
classes' and pull a plain mixture's classes apart. This model does what FSL FAST (Zhang, Brady
& Smith 2001) and ANTs Atropos do, in the same spirit, on one reference channel:

1. **Reference channel.** T1 (CSF < GM < WM), else T1 with contrast, T2 (WM < GM < CSF) or FLAIR
   (CSF < WM < GM), chosen by the channel's name (:mod:`core.roles`).
2. **Robust initialisation.** A 3-class k-means on the intensity histogram of the masked voxels
   (the 0.5-99.5 % range), started at the 15th, 50th and 85th percentiles; the three centres,
   sorted, are named by the channel's tissue order.
3. **Partial-volume mixture** (Santago & Gage 1993; Shattuck et al. 2001): five classes, CSF,
   CSF/GM, GM, GM/WM, WM. A pure class is Gaussian; a mixed class of tissues a and b has the
   density of ``α·a + (1-α)·b`` with α uniform in [0, 1] (``PV_STEPS`` values of α). Each pure
   class's intensity is the peak of the histogram (smoothed by ``HISTOGRAM_SMOOTHING`` of its range,
   in intensity units whatever the storage step) inside its k-means range (mixed voxels pile up
   beside a peak, not on it; the k-means centre where there is no inner peak, or only one at the
   border it shares with a neighbour; CSF without a peak is at the histogram's end on its side), and
   all classes share one noise SD, measured as the half width of the outermost pure peak. Only the
   five class weights are then fitted (EM on the histogram, ``HISTOGRAM_BINS`` bins or one per
   value): a class can neither widen to swallow the mixed voxels beside it nor collapse onto a
   spike, which freely fitted means and variances did on the development images.
4. **Tissue fractions.** Each voxel's CSF, GM and WM fraction: a pure class's posterior goes to
   its tissue; a mixed class's posterior is split by the expected α given the intensity.
5. **Bias field** (``bias=True``, inside the loop, ``BIAS_ITERATIONS`` times): the log ratio of each
   grey- or white-matter voxel's intensity to what its fractions predict (CSF, often mixed or
   flowing, is left out) is fitted by a polynomial of degree ``BIAS_DEGREE`` (1: a tilt) in the
   voxel's position; the reference channel is divided by that smooth field and the mixture refitted.
   Degree 1 did at least as well as degrees 2 and 3 on every case of bench/quality/tissue_results.md,
   bowl-shaped fields included: higher degrees follow the anatomy and the noise.
6. **MRF prior.** Mean-field Potts (:mod:`engine.mrf`) on the log tissue fractions with weight
   ``beta``: a voxel whose fractions are nearly tied takes its neighbours' tissue; confident voxels
   keep theirs. The label is the tissue with the largest regularised fraction.

Labels: 1 CSF, 2 grey matter, 3 white matter. The fractions (``fractions``, n × 3, summing to 1)
are the partial-volume estimates written by ``--posteriors``.

Limits: the pure intensities come from histogram peaks; where a strong bias field and noise smear
the white-matter peak, a spurious bump can be taken for it;
one channel drives the model (others are measured, not modelled); lesions take the tissue
they resemble on that channel (MS lesions look like grey matter on T1); the mask must be the brain
(skull-stripped images, or a brain mask): scalp and skull are not tissue classes here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..core.errors import UserInputError
from ..core.options import TISSUE_MRF_BETA
from ..core.palette import TISSUE_NAMES
from ..core.roles import channel_role
from ..core.volume import MM3_PER_ML, Channel, masked_rows
from ..engine.histogram import step_aligned_bins
from ..engine.mrf import regularise_masked

#: Tissue order by intensity (darkest first) on each reference role; index into TISSUE_NAMES.
INTENSITY_ORDER = {"t1": (0, 1, 2), "t1c": (0, 1, 2), "t2": (2, 1, 0), "flair": (0, 2, 1)}
#: Reference roles in order of preference.
REFERENCE_ROLES = ("t1", "t1c", "t2", "flair")
#: Mixed classes: pairs of tissues that touch in the brain.
MIXED = ((0, 1), (1, 2))
PV_STEPS = 9
HISTOGRAM_BINS = 1024
#: SD of the Gaussian the histogram is smoothed with before its peaks are read, as a share of its range
#: (0.5-99.5 %): in intensity units, not bins, so the same whatever the storage step (bench/quality/tissue_results.md).
HISTOGRAM_SMOOTHING = 0.01
EM_ITERATIONS = 60
BIAS_ITERATIONS = 3
BIAS_DEGREE = 1
BIAS_SAMPLE = 200_000
#: Degree of another channel's field (:func:`channel_bias_field`): raw FLAIR scans of the longitudinal MS
#: patients needed a bowl as well as a tilt (bench/quality/lesion_results.md: degree 1 found a fifth of the
#: changed lesions degree 2 found).
CHANNEL_BIAS_DEGREE = 2
DEFAULT_BETA = TISSUE_MRF_BETA
#: Half width at half maximum of a Gaussian, in SDs.
HWHM_PER_SD = 1.1774
#: More than the largest adult intracranial volumes (CSF included): a mask this large holds scalp and skull.
MAX_BRAIN_ML = 2200.0


@dataclass
class TissueModelFit:
    """The fitted mixture: pure classes' means and SDs (tissue order), the five class weights."""

    means: np.ndarray
    sds: np.ndarray
    weights: np.ndarray
    reference: str
    n_iter: int


@dataclass
class TissueResult:
    """Labels (1 CSF, 2 GM, 3 WM) and fractions (n, 3) of the masked voxels, and the fit."""

    labels: np.ndarray
    fractions: np.ndarray
    fit: TissueModelFit
    bias_field: np.ndarray | None
    notes: list[str]


class TissueModel:
    """What the rest of the pipeline reads of a model: its name and number of classes."""

    method = "tissue"
    n_clusters = len(TISSUE_NAMES)

    def __init__(self, fit: TissueModelFit) -> None:
        self.fit = fit
        self.converged_ = True
        self.n_iter_ = fit.n_iter


def reference_channel(channels: Sequence[Channel]) -> Channel:
    """The channel the tissue model is fitted on (T1, else T1c, T2, FLAIR), or a one-line error."""
    by_role = {channel_role(channel.name): channel for channel in reversed(channels)}
    for role in REFERENCE_ROLES:
        if role in by_role:
            return by_role[role]
    raise UserInputError("--tissue needs a T1, T2 or FLAIR input named so (e.g. 't1', 't2', 'flair'; use --names); "
                         f"got {', '.join(channel.name for channel in channels)}")


def segment_tissue(channels: Sequence[Channel], mask: np.ndarray, beta: float = DEFAULT_BETA,
                   bias: bool = True, neighbourhood: int = 6, bias_degree: int = BIAS_DEGREE) -> TissueResult:
    """CSF, grey and white matter of the masked voxels (see the module docstring)."""
    reference = reference_channel(channels)
    role = channel_role(reference.name)
    order = INTENSITY_ORDER[role]
    values = masked_rows(reference.data, mask).astype(np.float64)
    if values.size < 100:
        raise UserInputError(f"the mask holds {values.size} voxels: too few for brain tissue classes")
    finite = np.isfinite(values)
    values = np.where(finite, values, np.median(values[finite]) if finite.any() else 0.0)
    low, high = np.percentile(values, [0.5, 99.5])
    if not high > low:
        raise UserInputError(f"input {reference.name!r} is constant inside the mask: no tissue contrast")
    positive = low > 0
    field = np.ones_like(values)
    coordinates = _normalised_coordinates(mask, reference.grid.spacing) if bias and positive else None
    fit = _fit_mixture(values, order, None, role)
    fractions = _fractions(values, fit)
    for _ in range(BIAS_ITERATIONS if coordinates is not None else 0):
        new_field = _bias_field(values / field, fractions, fit, coordinates, bias_degree) * field
        corrected = values / new_field
        new_fit = _fit_mixture(corrected, order, fit, role)
        new_fractions = _fractions(corrected, new_fit)
        if not _plausible(new_field, new_fractions):  # a field that empties a tissue is not a bias field
            break
        field, fit, fractions = new_field, new_fit, new_fractions
    log_fractions = np.log(fractions + 1e-4).astype(np.float32)
    if beta > 0:
        regularised = regularise_masked(log_fractions, mask, beta, neighbourhood, spacing=reference.grid.spacing)
    else:
        regularised = log_fractions
    labels = (regularised.argmax(axis=1) + 1).astype(np.uint8)
    notes = [f"tissue model on {reference.name} ({role}): means " + ", ".join(
        f"{name} {mean:.4g}" for name, mean in zip(TISSUE_NAMES, fit.means))
        + (f"; bias field {field.min():.2f}..{field.max():.2f}" if coordinates is not None else "; no bias field")]
    mask_ml = values.size * reference.grid.voxel_volume_mm3 / MM3_PER_ML
    if mask_ml > MAX_BRAIN_ML:
        notes.append(f"the mask holds {mask_ml:.0f} mL, more than a brain ({MAX_BRAIN_ML:.0f} mL at most with its CSF): "
                     "scalp, skull and neck were classed as tissue too; give skull-stripped images or a brain mask (--mask)")
    return TissueResult(labels, fractions.astype(np.float32), fit,
                        field if coordinates is not None else None, notes)


def _plausible(field: np.ndarray, fractions: np.ndarray) -> bool:
    """A field within a factor of two either way that leaves every tissue at least 1 % of the voxels."""
    return bool(field.min() > 0.5 and field.max() < 2.0 and (fractions.mean(axis=0) >= 0.01).all())


def _fit_mixture(values: np.ndarray, order: tuple[int, int, int], previous: TissueModelFit | None,
                 role: str) -> TissueModelFit:
    """The PV mixture of ``values``: pure means at the histogram's peaks, one noise SD, class weights by EM."""
    centres, counts, low, high = _histogram(values)
    start = previous.means[list(order)] if previous is not None else np.percentile(values, [15, 50, 85])
    sorted_means = _histogram_kmeans(centres, counts, start)
    smoothing = HISTOGRAM_SMOOTHING * (high - low)
    smooth = _smoothed(centres, counts, smoothing)
    sorted_means = _class_peaks(centres, smooth, sorted_means, order.index(0))
    sd = max(_noise_sd(centres, smooth, sorted_means, smoothing), (high - low) / 500)
    means = np.empty(3)
    means[list(order)] = sorted_means
    sds = np.full(3, sd)
    densities = _class_densities(centres, means, sds)
    weights = np.full(5, 0.2)
    iteration = 0
    for iteration in range(1, EM_ITERATIONS + 1):  # only the weights move: the classes cannot collapse
        joint = densities * weights
        responsibility = joint / (joint.sum(axis=1, keepdims=True) + 1e-300) * counts[:, None]
        new_weights = responsibility.sum(axis=0) / counts.sum()
        if np.abs(new_weights - weights).max() < 1e-6:
            weights = new_weights
            break
        weights = new_weights
    return TissueModelFit(means, sds, np.maximum(weights, 1e-6), role, iteration)


def _histogram(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Bin centres and counts of the 0.5-99.5 % range of ``values``, the bins holding whole storage steps
    (one bin per stored value for integers, or integers times a slope, of a narrow range): no comb."""
    low, high = (float(v) for v in np.percentile(values, [0.5, 99.5]))
    bins, start, stop = step_aligned_bins(values, HISTOGRAM_BINS, low, high)
    counts, edges = np.histogram(np.clip(values, low, high), bins=bins, range=(start, stop))
    return 0.5 * (edges[:-1] + edges[1:]), counts.astype(np.float64), start, stop


def _class_peaks(centres: np.ndarray, smooth: np.ndarray, means: np.ndarray, csf: int) -> np.ndarray:
    """Each class's pure intensity (``means``: sorted k-means centres; ``csf``: CSF's place among them).

    The histogram's peak between the midpoints to its neighbours, when there is one inside that lies
    nearer the class's centre than its borders (mixed voxels pile up beside a peak, not on it; a peak at
    a border is one the class shares with its neighbour: FLAIR's grey and white matter), else the k-means
    centre; CSF with no peak of its own is at the histogram's end on its side: pure CSF is rare at 1 mm
    (ventricles; sulcal CSF is mixed with grey matter), and the mixed voxels pull its centre towards grey
    matter. The k-means centres for all when two classes would share one peak."""
    bounds = np.concatenate([[-np.inf], 0.5 * (means[1:] + means[:-1]), [np.inf]])
    peaks = means.copy()
    for c in range(len(means)):
        inside = np.flatnonzero((centres > bounds[c]) & (centres <= bounds[c + 1]))
        top = inside[np.argmax(smooth[inside])] if inside.size >= 3 else None
        borders = bounds[c:c + 2][np.isfinite(bounds[c:c + 2])]
        if top is not None and inside[0] < top < inside[-1] and np.all(
                np.abs(centres[top] - borders) > abs(centres[top] - means[c])):
            peaks[c] = centres[top]
        elif c == csf:
            peaks[c] = centres[0] if c == 0 else centres[-1]
    if np.any(np.diff(peaks) < np.diff(means) / 4):  # two classes on one peak (low contrast): the centres
        return means.copy()
    return np.sort(peaks)


def _noise_sd(centres: np.ndarray, smooth: np.ndarray, means: np.ndarray, smoothing: float) -> float:
    """The noise SD: the half width at half maximum of the sharpest outer pure peak (the brightest or the
    darkest class, on its side away from the other classes), for a peak inside the histogram whose
    half maximum is reached before its edge, less the ``smoothing`` SD; mixed voxels only widen a peak,
    so the sharpest is the noise. A quarter of the closest classes' distance where there is no such peak."""
    candidates = []
    for c, direction in ((0, -1), (len(means) - 1, 1)):
        top = int(np.abs(centres - means[c]).argmin())
        if not 0 < top < len(centres) - 1 or smooth[top] < smooth[top - 1] or smooth[top] < smooth[top + 1]:
            continue  # no peak there: a k-means centre on a slope
        half = smooth[top] / 2
        index = top
        while 0 < index < len(centres) - 1 and smooth[index] > half:
            index += direction
        if smooth[index] <= half:
            candidates.append(abs(centres[index] - centres[top]) / HWHM_PER_SD)
    if not candidates:
        return float(np.diff(np.sort(means)).min() / 4)
    return float(np.sqrt(max(min(candidates) ** 2 - smoothing ** 2, 0.0)))


def _smoothed(centres: np.ndarray, counts: np.ndarray, sd: float) -> np.ndarray:
    """``counts`` (of bins of equal width at ``centres``) convolved with a Gaussian of ``sd`` intensity units."""
    sd_bins = sd / (centres[1] - centres[0]) if centres.size > 1 else 0.0
    offsets = np.arange(-int(np.ceil(4 * sd_bins)), int(np.ceil(4 * sd_bins)) + 1)
    kernel = np.exp(-0.5 * (offsets / max(sd_bins, 1e-9)) ** 2)
    return np.convolve(counts, kernel / kernel.sum(), mode="same")


def _histogram_kmeans(centres: np.ndarray, counts: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Sorted 1-D k-means centres of a weighted histogram (Lloyd, from ``start``)."""
    means = np.sort(np.asarray(start, dtype=np.float64))
    for _ in range(100):
        nearest = np.abs(centres[:, None] - means[None, :]).argmin(axis=1)
        new = np.array([np.average(centres[nearest == c], weights=counts[nearest == c])
                        if counts[nearest == c].sum() > 0 else means[c] for c in range(len(means))])
        if np.allclose(new, means):
            break
        means = np.sort(new)
    return means


def _alphas() -> np.ndarray:
    return (np.arange(PV_STEPS) + 0.5) / PV_STEPS


def _class_densities(x: np.ndarray, means: np.ndarray, sds: np.ndarray) -> np.ndarray:
    """(len(x), 5) densities of CSF, CSF/GM, GM, GM/WM, WM at ``x``."""
    out = np.empty((x.size, 5))
    for tissue, column in zip(range(3), (0, 2, 4)):
        out[:, column] = _gauss(x, means[tissue], sds[tissue])
    for (a, b), column in zip(MIXED, (1, 3)):
        out[:, column] = _mixed_density(x, a, b, means, sds).mean(axis=1)
    return out


def _mixed_density(x: np.ndarray, a: int, b: int, means: np.ndarray, sds: np.ndarray) -> np.ndarray:
    """(len(x), PV_STEPS) densities of the mixed class a/b at each α (α = fraction of a)."""
    alpha = _alphas()
    mean = alpha * means[a] + (1 - alpha) * means[b]
    sd = np.sqrt(alpha * sds[a] ** 2 + (1 - alpha) * sds[b] ** 2)
    return _gauss(x[:, None], mean[None, :], sd[None, :])


def _gauss(x, mean, sd):
    return np.exp(-0.5 * ((x - mean) / sd) ** 2) / (np.sqrt(2 * np.pi) * sd)


def _fractions(values: np.ndarray, fit: TissueModelFit) -> np.ndarray:
    """(n, 3) tissue fractions of each value, by a lookup table on a fine grid of intensities."""
    low, high = float(values.min()), float(values.max())
    grid = np.linspace(low, high, 4096) if high > low else np.array([low])
    densities = _class_densities(grid, fit.means, fit.sds) * fit.weights
    posterior = densities / (densities.sum(axis=1, keepdims=True) + 1e-300)
    table = np.zeros((grid.size, 3))
    for tissue, column in zip(range(3), (0, 2, 4)):
        table[:, tissue] += posterior[:, column]
    alpha = _alphas()
    for (a, b), column in zip(MIXED, (1, 3)):
        per_alpha = _mixed_density(grid, a, b, fit.means, fit.sds)
        expected = (per_alpha @ alpha) / (per_alpha.sum(axis=1) + 1e-300)
        table[:, a] += posterior[:, column] * expected
        table[:, b] += posterior[:, column] * (1 - expected)
    outside = posterior.sum(axis=1) < 0.5  # far outside every class: the nearest pure class
    if outside.any():
        nearest = np.abs(grid[outside, None] - fit.means[None, :]).argmin(axis=1)
        table[outside] = np.eye(3)[nearest]
    if grid.size == 1:
        return np.repeat(table, values.size, axis=0)
    index = np.clip(np.rint((values - low) / (high - low) * (grid.size - 1)).astype(np.int64), 0, grid.size - 1)
    return table[index]


def _normalised_coordinates(mask: np.ndarray, spacing: Sequence[float]) -> np.ndarray:
    """(n, 3) positions of the masked voxels in mm, centred and scaled to about [-1, 1]."""
    axes = np.nonzero(mask)
    order = np.lexsort(axes)  # masked_rows order: i fastest
    points = np.stack([axis[order] * s for axis, s in zip(axes, spacing)], axis=1).astype(np.float64)
    points -= points.mean(axis=0)
    scale = np.abs(points).max(axis=0)
    return points / np.where(scale > 0, scale, 1.0)


def _powers(degree: int) -> list[tuple[int, int, int]]:
    """Exponents (i, j, k) of the monomials x^i y^j z^k with 0 < i + j + k <= ``degree``."""
    return [(i, j, k) for i in range(degree + 1) for j in range(degree + 1 - i)
            for k in range(degree + 1 - i - j) if 0 < i + j + k]


def _polynomial_terms(points: np.ndarray, powers: list[tuple[int, int, int]]) -> np.ndarray:
    """(n, terms) monomials of ``powers`` at ``points``."""
    return np.stack([points[:, 0] ** i * points[:, 1] ** j * points[:, 2] ** k for i, j, k in powers], axis=1)


def _bias_field(values: np.ndarray, fractions: np.ndarray, fit: TissueModelFit, points: np.ndarray,
                degree: int) -> np.ndarray:
    """A smooth multiplicative field (mean log 0): a polynomial of ``degree`` in the position fitted to
    log(value / the value the voxel's fractions predict) over the grey- and white-matter voxels."""
    residual, usable = _log_ratio(values, fractions @ fit.means)
    weight = np.where(usable, 1.0 - fractions[:, 0], 0.0)  # grey and white matter alike; CSF (mixed, flowing) left out
    return _smooth_field(residual, weight, points, degree)


def channel_bias_field(values: np.ndarray, fractions: np.ndarray, mask: np.ndarray, spacing: Sequence[float],
                       degree: int = CHANNEL_BIAS_DEGREE) -> np.ndarray:
    """The bias field of another co-registered channel (its masked ``values``), from the tissue ``fractions``:
    each tissue's median intensity on that channel predicts each voxel; the log ratio is fitted as in the
    model, with voxels far from their prediction (lesions, vessels: beyond 3 robust SDs) left out."""
    points = _normalised_coordinates(mask, spacing)
    labels = fractions.argmax(axis=1)
    field = np.ones_like(values, dtype=np.float64)
    for _ in range(BIAS_ITERATIONS):
        corrected = values / field
        medians = np.array([np.median(corrected[labels == t]) if np.any(labels == t) else 0.0 for t in range(3)])
        residual, usable = _log_ratio(corrected, fractions @ medians)
        if not usable.any():
            break
        centre = np.median(residual[usable])
        spread = 1.4826 * np.median(np.abs(residual[usable] - centre))
        inlier = usable & (np.abs(residual - centre) <= 3 * spread)
        new_field = field * _smooth_field(residual, np.where(inlier, 1.0 - fractions[:, 0], 0.0), points, degree)
        if not (0.5 < new_field.min() and new_field.max() < 2.0):
            break
        field = new_field
    return field


def _log_ratio(values: np.ndarray, predicted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """log(value / predicted value) where both are positive (0 elsewhere), and where that is."""
    usable = (values > 0) & (predicted > 0)
    residual = np.zeros_like(values, dtype=np.float64)
    residual[usable] = np.log(values[usable] / predicted[usable])
    return residual, usable


def _smooth_field(residual: np.ndarray, weight: np.ndarray, points: np.ndarray, degree: int) -> np.ndarray:
    """exp of the weighted least-squares polynomial (of ``degree``, mean 0) through ``residual`` at ``points``."""
    step = max(1, int(np.count_nonzero(weight) // BIAS_SAMPLE))
    sample = np.flatnonzero(weight > 0)[::step]
    if sample.size < 50:
        return np.ones_like(residual)
    w = weight[sample]
    powers = _powers(degree)
    terms = _polynomial_terms(points[sample], powers)
    terms_mean = np.average(terms, axis=0, weights=w)
    centred = terms - terms_mean
    lhs = centred.T @ (centred * w[:, None]) + 1e-3 * np.eye(terms.shape[1]) * w.sum()
    coefficients = np.linalg.solve(lhs, centred.T @ (w * (residual[sample] - np.average(residual[sample], weights=w))))
    log_field = np.zeros(len(points))
    for column, (i, j, k) in enumerate(powers):  # term by term: no (n, terms) matrix for every voxel
        log_field += coefficients[column] * (points[:, 0] ** i * points[:, 1] ** j * points[:, 2] ** k - terms_mean[column])
    return np.exp(log_field - log_field.mean())
