"""Loading a run's inputs from files: channels on one grid and an optional mask array."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core.errors import UserInputError
from ..core.grid import align_channels, overlaps, resample
from ..core.options import MASK_RULES
from ..core.volume import Channel, Grid
from .image_files import read_channels, require_input

#: Files read at once: two keep both cores busy while bounding the decompression buffers in memory.
READ_THREADS = 2


@dataclass
class LoadedInputs:
    """Channels on the first input's grid, the mask array from a file (if any), and notes."""

    channels: list[Channel]
    mask: np.ndarray | None = None
    messages: list[str] = field(default_factory=list)


def load_inputs(paths: Sequence[str | Path], names: Sequence[str] | None = None, mask: str = "nonzero",
                series: Sequence[str] = ()) -> LoadedInputs:
    """Read input images (and a mask file when ``mask`` is not a rule name) onto one grid.

    A DICOM folder given more than once takes, in order, the series of ``series`` it holds.
    """
    if names and len(names) != len(paths):
        raise UserInputError(f"--names gives {len(names)} names for {len(paths)} inputs; give one name per input")
    for path in paths:  # every input exists, and so does a mask file, before any is read
        require_input(path)
    if mask not in MASK_RULES:
        require_mask(mask)
    channels = [channel for read in _read_all(paths, names, series) for channel in read]
    duplicates = sorted({c.name for c in channels if [d.name for d in channels].count(c.name) > 1})
    if duplicates:
        raise UserInputError(f"two inputs are both called {duplicates[0]!r}; name them with --names")
    channels, messages = align_channels(channels)
    mask_array = None if mask in MASK_RULES else read_mask(mask, channels[0], series)
    return LoadedInputs(channels, mask_array, messages)


def _read_all(paths: Sequence[str | Path], names: Sequence[str] | None, series: Sequence[str]) -> list[list[Channel]]:
    """The channels of every input, read on a few threads (decompression releases the GIL); the
    first failing input, in the given order, raises. A DICOM folder given more than once takes the
    next series of ``series`` each time."""
    resolved = [Path(p).resolve() for p in paths]
    jobs = [(path, names[index] if names else None, series, resolved[:index].count(resolved[index]))
            for index, path in enumerate(paths)]
    if len(jobs) == 1:
        return [read_channels(*jobs[0])]
    with ThreadPoolExecutor(max_workers=READ_THREADS) as pool:
        return list(pool.map(lambda job: read_channels(*job), jobs))


def read_mask(path: str | Path, reference: Channel, series: Sequence[str] = ()) -> np.ndarray:
    """A mask file's (or DICOM series') voxels > 0 on the reference channel's grid (nearest-neighbour if resampled)."""
    require_mask(path)
    mask_channel = read_channels(path, "mask", series)[0]
    return resample_mask(mask_channel.data, mask_channel, reference.grid, str(path))


def require_mask(path: str | Path) -> None:
    """UserInputError unless ``path`` is an existing mask file or DICOM folder."""
    if not Path(path).exists():
        raise UserInputError(f"--mask {str(path)!r} is neither a rule ({', '.join(MASK_RULES)}) nor an existing file or DICOM folder")


def resample_mask(data: np.ndarray, source: Channel, target: Grid, what: str) -> np.ndarray:
    """``data`` > 0 (on ``source``'s grid) on the ``target`` grid, nearest neighbour where they differ."""
    if source.grid.same_as(target):
        return data > 0
    if not overlaps(source.grid, target):
        raise UserInputError(f"{what} does not overlap the reference grid in physical space")
    return resample(data, source.grid, target, order=0, fill=0.0) > 0
