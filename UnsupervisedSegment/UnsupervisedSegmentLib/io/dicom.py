"""DICOM series as inputs: a folder holding one series, or several and the chosen Series Instance UID.

Series are found and read with SimpleITK (GDCM): the files of a series are sorted along the
slice normal and the image gets its physical geometry from the image position and orientation
tags; rescale slope and intercept are applied. A series is named after its description
(0008,103E), made safe for file and column names, or after its folder when it has none.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import UserInputError, first_line
from ..core.grid import quiet_itk
from ..core.lazy import lazy_module

sitk = lazy_module("SimpleITK")

SERIES_DESCRIPTION_TAG = "0008|103e"
UNSAFE_NAME_CHARACTERS = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class Series:
    """One DICOM series of a folder: its UID, description and files (in slice order)."""

    uid: str
    description: str
    files: tuple[str, ...]


def list_series(folder: str | Path) -> list[Series]:
    """Every DICOM series directly inside ``folder`` (none for a folder without DICOM files)."""
    folder = str(folder)
    try:
        with quiet_itk():  # ITK would print "No Series were found" on stderr
            uids = sitk.ImageSeriesReader.GetGDCMSeriesIDs(folder)
            return [_series(folder, uid) for uid in uids]
    except RuntimeError as error:
        raise UserInputError(f"cannot read the DICOM files in {folder}: {first_line(error)}") from None


def choose_series(folder: str | Path, wanted: Sequence[str] = (), occurrence: int = 0) -> Series:
    """The folder's series: its only one, else the ``occurrence``-th of its series whose UID is in ``wanted``.

    Raises UserInputError for a folder without DICOM series, and for one with several when
    ``wanted`` does not pick one (the message lists them with their descriptions).
    """
    found = list_series(folder)
    if not found:
        raise UserInputError(f"{folder} is a folder without DICOM series; give an image file or a folder of DICOM files")
    if len(found) == 1:
        return found[0]
    chosen = [series for uid in wanted for series in found if series.uid == uid]
    if occurrence < len(chosen):
        return chosen[occurrence]
    listing = "; ".join(f"{series.uid} ({series.description or 'no description'})" for series in found)
    raise UserInputError(f"{folder} holds {len(found)} DICOM series; choose one with --series UID: {listing}")


def read_series(series: Series) -> sitk.Image:
    """The series as one 3D image in physical (LPS) geometry, rescale slope and intercept applied."""
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(list(series.files))
    try:
        return reader.Execute()
    except RuntimeError as error:
        raise UserInputError(f"cannot read DICOM series {series.uid}: {first_line(error)}") from None


def series_name(series: Series, folder: str | Path) -> str:
    """A channel name for the series: its description made safe, else the folder's name."""
    safe = UNSAFE_NAME_CHARACTERS.sub("_", series.description).strip("_.-")
    return safe or Path(folder).resolve().name


def _series(folder: str, uid: str) -> Series:
    """The files and description of one series of a folder."""
    files = tuple(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(folder, uid))
    reader = sitk.ImageFileReader()
    reader.SetFileName(files[0])
    reader.ReadImageInformation()
    has_description = reader.HasMetaDataKey(SERIES_DESCRIPTION_TAG)
    description = reader.GetMetaData(SERIES_DESCRIPTION_TAG).strip() if has_description else ""
    return Series(uid, description, files)
