"""Stable segment names and colours, indexed by cluster label (1 = darkest in the first input)."""

from __future__ import annotations

from dataclasses import dataclass

#: Distinct colours (RGB, 0-1) for labels 1, 2, 3, ...; cycles after the last one.
SEGMENT_COLORS: tuple[tuple[float, float, float], ...] = (
    (0.122, 0.467, 0.706),  # blue
    (0.173, 0.627, 0.173),  # green
    (1.000, 0.498, 0.055),  # orange
    (0.839, 0.153, 0.157),  # red
    (0.580, 0.404, 0.741),  # purple
    (0.549, 0.337, 0.294),  # brown
    (0.890, 0.467, 0.761),  # pink
    (0.737, 0.741, 0.133),  # olive
    (0.090, 0.745, 0.812),  # cyan
    (0.498, 0.498, 0.498),  # grey
)


def segment_id(label: int) -> str:
    """Stable segment ID of ``label``, the same in ``.seg.nrrd`` files and Slicer segmentation nodes."""
    return f"Segment_{label}"


def segment_name(label: int) -> str:
    """Name of the segment holding cluster ``label``."""
    return f"Cluster {label}"


def segment_color(label: int) -> tuple[float, float, float]:
    """Colour of the segment holding cluster ``label`` (1-based)."""
    return SEGMENT_COLORS[(label - 1) % len(SEGMENT_COLORS)]


#: The automatic lesion segment (label k + 1, after the clusters): its name and colour.
#: Brain tissue classes (labels 1, 2, 3 of the tissue model) and their colours (Slicer's GenericAnatomyColors).
TISSUE_NAMES = ("CSF", "Grey matter", "White matter")
TISSUE_COLORS: tuple[tuple[float, float, float], ...] = ((0.345, 0.416, 0.843), (0.690, 0.478, 0.396), (0.961, 0.961, 0.961))
LESION_NAME = "Lesion"
LESION_COLOR: tuple[float, float, float] = (1.0, 0.85, 0.0)  # yellow, apart from the cluster colours


@dataclass(frozen=True)
class Segment:
    """One output segment: the cluster's label value, name and display colour."""

    label: int
    name: str
    color: tuple[float, float, float]
