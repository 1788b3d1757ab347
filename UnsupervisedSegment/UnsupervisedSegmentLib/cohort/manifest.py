"""Cohort manifests: a CSV with one row per case, its input images and an optional mask.

Columns: ``case_id``, then one column per input (the column name is the input's name), and
optionally ``mask`` and ``lesion_type`` (auto, tumour, ms or stroke: find that lesion in the case;
empty: as the command line says). Paths are relative to the CSV's folder (absolute paths work too).

A manifest of **visit pairs** (two visits of one patient compared, as ``compare`` does) has, instead of
the input columns, ``baseline_<name>`` and ``follow_up_<name>`` columns with the same names in the same
order (e.g. ``case_id,baseline_flair,baseline_t1,follow_up_flair,follow_up_t1``).
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import UserInputError
from ..core.options import LESION_TYPES

CASE_ID_COLUMN = "case_id"
MASK_COLUMN = "mask"
LESION_TYPE_COLUMN = "lesion_type"
BASELINE_PREFIX, FOLLOW_UP_PREFIX = "baseline_", "follow_up_"
SAFE_CASE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class Case:
    """One row of the manifest: its id, named input files and optional mask file."""

    case_id: str
    inputs: tuple[Path, ...]
    names: tuple[str, ...]
    mask: Path | None = None
    lesion_type: str | None = None
    follow_up: tuple[Path, ...] = ()  # a visit pair: ``inputs`` are the baseline's


def read_manifest(path: str | Path) -> list[Case]:
    """Parse a manifest CSV; UserInputError for a missing column, bad or repeated case id."""
    path = Path(path)
    if not path.is_file():
        raise UserInputError(f"manifest not found: {path}")
    with open(path, newline="", encoding="utf-8-sig") as stream:
        reader = csv.DictReader(stream)
        columns = [c.strip() for c in reader.fieldnames or []]
        rows = [{(k or "").strip(): (v or "").strip() for k, v in row.items()} for row in reader]
    if CASE_ID_COLUMN not in columns:
        raise UserInputError(f"manifest {path} has no '{CASE_ID_COLUMN}' column; its first line must name the columns")
    input_columns = [c for c in columns if c not in (CASE_ID_COLUMN, MASK_COLUMN, LESION_TYPE_COLUMN)]
    follow_up_columns = visit_pair_columns(path, input_columns)
    if follow_up_columns:
        input_columns = [c for c in input_columns if c not in follow_up_columns]
    if not input_columns:
        raise UserInputError(f"manifest {path} has no input column besides '{CASE_ID_COLUMN}' and '{MASK_COLUMN}'")
    cases, seen = [], set()
    for line, row in enumerate(rows, start=2):
        case_id = row[CASE_ID_COLUMN]
        if not SAFE_CASE_ID.match(case_id):
            raise UserInputError(f"manifest {path}, line {line}: case id {case_id!r} must be letters, digits, '.', '_' or '-'")
        if case_id in seen:
            raise UserInputError(f"manifest {path}, line {line}: case id {case_id!r} appears twice")
        seen.add(case_id)
        lesion_type = row.get(LESION_TYPE_COLUMN) or None
        if lesion_type is not None and lesion_type not in LESION_TYPES:
            raise UserInputError(f"manifest {path}, line {line}: lesion type {lesion_type!r} must be one of "
                                 f"{', '.join(LESION_TYPES)} (or empty)")
        cases.append(
            Case(
                case_id=case_id,
                inputs=tuple(_resolve(path, row[column]) for column in input_columns),
                names=tuple(c.removeprefix(BASELINE_PREFIX) if follow_up_columns else c for c in input_columns),
                follow_up=tuple(_resolve(path, row[column]) for column in follow_up_columns),
                mask=_resolve(path, row[MASK_COLUMN]) if row.get(MASK_COLUMN) else None,
                lesion_type=lesion_type,
            )
        )
    if not cases:
        raise UserInputError(f"manifest {path} lists no case")
    return cases


def visit_pair_columns(path: Path, input_columns: list[str]) -> list[str]:
    """The follow-up columns of a manifest of visit pairs ([] for a plain manifest); UserInputError when the
    baseline and follow-up columns do not name the same sequences in the same order, or mix with plain inputs."""
    baseline = [c for c in input_columns if c.startswith(BASELINE_PREFIX)]
    follow_up = [c for c in input_columns if c.startswith(FOLLOW_UP_PREFIX)]
    if not baseline and not follow_up:
        return []
    names = [c.removeprefix(BASELINE_PREFIX) for c in baseline]
    if names != [c.removeprefix(FOLLOW_UP_PREFIX) for c in follow_up] or len(baseline) + len(follow_up) != len(input_columns):
        raise UserInputError(f"manifest {path}: a manifest of visit pairs has only {BASELINE_PREFIX}<name> and "
                             f"{FOLLOW_UP_PREFIX}<name> columns with the same names in the same order, not "
                             f"{', '.join(input_columns)}")
    return follow_up


def _resolve(manifest: Path, value: str) -> Path:
    """A manifest path, relative to the manifest's folder unless absolute."""
    return (manifest.parent / value).resolve() if value else manifest.parent / "(empty cell)"
