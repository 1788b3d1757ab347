"""The cohort review page: ``review.html`` beside a batch's ``summary.csv``, one row per case.

A static page that opens from disk (no network, no server): each case's thumbnail and 3D
preview are relative links to the files in its folder (see :mod:`thumbnail`), the lesion and
segment volumes, k, status and error, the run's notes and warnings, and links to every file.
A few lines of JavaScript in the template sort the rows and hide the cases that need no look.

A case is flagged when its run warned, its lesion touches the mask border, or one of its
volumes is far from the cohort's median (:func:`far_from_median`).
"""

from __future__ import annotations

import csv
import html
import json
import os
import statistics
import uuid
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from string import Template
from urllib.parse import quote

from ..core.errors import UserInputError
from ..core.output_files import PREVIEW_3D_FILE, REVIEW_FILE, REVIEW_PAGE, SUMMARY_FILE, THUMBNAIL_FILE
from ..core.palette import LESION_NAME
from ..report.thumbnail import THUMBNAIL_SIZE

TEMPLATE = Path(__file__).with_name("review_page.html")
LESION_COLUMN = "lesion_volume_ml"
VOLUME_PREFIX = "volume_ml_"
#: A volume is far from the cohort's median when it differs from it by more than FAR_MADS robust
#: standard deviations (1.4826 x the median absolute deviation) and by more than FAR_FRACTION x the median.
FAR_MADS = 3.0
MAD_TO_SD = 1.4826  # a normal distribution's standard deviation per median absolute deviation
FAR_FRACTION = 0.5
MIN_CASES_FOR_MEDIAN = 3
#: A lesion "touches the mask border" when at least this fraction of its voxels lie on the border of the mask.
BORDER_FRACTION = 0.2
RULE = (f"Flags: a warning of the run; a lesion along the border of the mask (at least {BORDER_FRACTION:.0%} of its "
        f"voxels next to a voxel outside the mask); a volume far from the cohort's "
        f"median, i.e. differing from the median of the finished cases by more than {FAR_MADS:g} &times; {MAD_TO_SD} "
        f"&times; MAD and by more than {FAR_FRACTION:.0%} of the median (lesion volumes over every case, segment "
        f"volumes over the cases with the same k; at least {MIN_CASES_FOR_MEDIAN} cases).")

Row = Mapping[str, str]


def far_from_median(values: Mapping[str, float]) -> dict[str, float]:
    """The keys whose value is far from the median of all values (rule above), with that median."""
    if len(values) < MIN_CASES_FOR_MEDIAN:
        return {}
    median = statistics.median(values.values())
    mad = statistics.median(abs(v - median) for v in values.values())
    limit = max(FAR_MADS * MAD_TO_SD * mad, FAR_FRACTION * abs(median))
    return {key: median for key, value in values.items() if abs(value - median) > limit}


def volume_columns(row: Row) -> list[str]:
    """The segment volume columns of a summary row that hold a value (the lesion apart)."""
    return [c for c in row if c.startswith(VOLUME_PREFIX) and c != VOLUME_PREFIX + LESION_NAME and row[c] != ""]


def volume_flags(rows: Sequence[Row]) -> dict[str, list[str]]:
    """Per case id, one message per volume far from the cohort's median."""
    groups: dict[tuple[str, str], dict[str, float]] = {}
    for row in rows:
        if row.get("status") != "done":
            continue
        for column in [LESION_COLUMN, *volume_columns(row)]:
            value = _number(row.get(column, ""))
            if value is not None:
                group = (column, "") if column == LESION_COLUMN else (column, row.get("k", ""))
                groups.setdefault(group, {})[row["case_id"]] = value
    flags: dict[str, list[str]] = {}
    for (column, k), values in groups.items():
        name = "lesion" if column == LESION_COLUMN else column[len(VOLUME_PREFIX):]
        for case_id, median in far_from_median(values).items():
            among = "the cohort" if column == LESION_COLUMN else f"cases with k={k}"
            flags.setdefault(case_id, []).append(
                f"{name} {values[case_id]:.4g} mL is far from the median of {among} ({median:.4g} mL)")
    return flags


def _millilitres(text: str) -> str:
    """A volume cell as shown: one decimal (mL), or the cell as it is when it is not a number."""
    value = _number(text)
    return text if value is None else f"{value:.1f}"


def _number(text: str) -> float | None:
    """A summary cell as a number; None when empty or not a number."""
    try:
        return float(text)
    except ValueError:
        return None


def read_summary(output_root: Path) -> list[dict[str, str]]:
    """The rows of ``summary.csv``; UserInputError when the folder holds none."""
    path = output_root / SUMMARY_FILE
    if not path.is_file():
        raise UserInputError(f"no {SUMMARY_FILE} in {output_root}: give the --output-dir of a batch run")
    with open(path, newline="", encoding="utf-8") as stream:
        rows = [{key: value or "" for key, value in row.items() if key is not None} for row in csv.DictReader(stream)]
    if not rows or "case_id" not in rows[0] or "status" not in rows[0]:
        raise UserInputError(f"{path} is not a batch summary (no case_id and status columns): give the --output-dir of a batch run")
    return rows


def read_case_facts(case_dir: Path) -> dict[str, object]:
    """A case's review.json (empty for folders made before review pages existed)."""
    try:
        return json.loads((case_dir / REVIEW_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def build_review(output_root: str | Path) -> Path:
    """Write ``review.html`` into a batch output folder (atomically) and return its path."""
    output_root = Path(output_root)
    rows = read_summary(output_root)
    far = volume_flags(rows)
    cases = [case_row_html(row, output_root, far.get(row["case_id"], [])) for row in rows]
    failed = sum(row["status"] == "failed" for row in rows)
    attention = sum(needs_look for _, needs_look in cases)
    summary = (f"{len(rows)} cases: {len(rows) - failed} done, {failed} failed; "
               f"{attention} need a look (failed, warned or flagged).")
    page = Template(TEMPLATE.read_text(encoding="utf-8")).substitute(
        title=_text(output_root.resolve().name), summary=_text(summary), rows="\n".join(markup for markup, _ in cases), rule=RULE)
    target = output_root / REVIEW_PAGE
    temporary = target.with_name(f".{REVIEW_PAGE}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        temporary.write_text(page, encoding="utf-8")
        os.replace(temporary, target)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise UserInputError(f"cannot write {target}: {error.strerror}") from None
    return target


def case_row_html(row: Row, output_root: Path, far: Sequence[str]) -> tuple[str, bool]:
    """One ``<tr>`` of the page, and whether the case needs a look (failed, warned or flagged)."""
    case_id, status = row["case_id"], row["status"]
    case_dir = output_root / case_id
    files = sorted(p.name for p in case_dir.iterdir() if p.is_file()) if status == "done" and case_dir.is_dir() else []
    facts = read_case_facts(case_dir) if files else {}
    flags = [f"warning: {w}" for w in facts.get("warnings", [])]
    on_border = facts.get("lesion_fraction_on_mask_border")
    if on_border is not None and on_border >= BORDER_FRACTION:
        flags.append(f"the lesion touches the mask border ({on_border:.0%} of its voxels on it)")
    flags += list(far)
    state = "failed" if status == "failed" else "flagged" if flags else "done"
    lesion = row.get(LESION_COLUMN, "") if status == "done" else ""
    status_cell = _text(status) + (f'<div class="error">{_text(row.get("error", ""))}</div>' if status == "failed" else "")
    volumes = _list(_text(f"{c[len(VOLUME_PREFIX):]}: {_millilitres(row[c])}") for c in volume_columns(row))
    notes = facts.get("notes", [])
    remarks = _list(map(_text, flags), "flag") + (
        f"<details><summary>{len(notes)} note(s)</summary>{_list(map(_text, notes), 'note')}</details>" if notes else "")
    cells = [
        f"<td>{_text(case_id)}</td>",
        f'<td class="text">{status_cell}</td>',
        f"<td>{_pictures(case_id, files)}</td>",
        f'<td class="number">{_text(_millilitres(lesion)) or "&ndash;"}</td>',
        f'<td class="number">{_text(row.get("k", ""))}</td>',
        f'<td class="volumes">{volumes}</td>',
        f'<td class="text">{remarks}</td>',
        f'<td class="files">{_list(_link(case_id, name, name) for name in files) or "no outputs"}</td>',
    ]
    attributes = (f'class="{state}" data-case="{_text(case_id)}" data-status="{_text(status)}" '
                  f'data-lesion="{_text(lesion)}" data-attention="{"yes" if state != "done" else "no"}"')
    return f"<tr {attributes}>" + "".join(cells) + "</tr>", state != "done"


def _pictures(case_id: str, files: Sequence[str]) -> str:
    """The thumbnail and 3D preview of a case, each linking to the full file."""
    pictures = []
    for name, alt, side in ((THUMBNAIL_FILE, "axial slice", THUMBNAIL_SIZE), (PREVIEW_3D_FILE, "3D preview", 160)):
        if name in files:
            image = f'<img src="{_href(case_id, name)}" alt="{_text(alt)} of {_text(case_id)}" style="max-width: {side}px; max-height: {side}px" loading="lazy">'
            pictures.append(_link(case_id, name, image, escape=False))
    return f'<div class="pictures">{"".join(pictures)}</div>' if pictures else "no picture"


def _href(case_id: str, name: str) -> str:
    """The relative, URL-quoted and HTML-escaped address of a case's file."""
    return _text(f"{quote(case_id)}/{quote(name)}")


def _link(case_id: str, name: str, content: str, escape: bool = True) -> str:
    """A link to a case's file."""
    return f'<a href="{_href(case_id, name)}">{_text(content) if escape else content}</a>'


def _list(markup: Iterable[str], kind: str = "") -> str:
    """A ``<ul>`` of HTML fragments (``kind``: the items' class); empty when there is none."""
    attribute = f' class="{kind}"' if kind else ""
    entries = [f"<li{attribute}>{item}</li>" for item in markup]
    return f"<ul>{''.join(entries)}</ul>" if entries else ""


def _text(value: object) -> str:
    """A string made safe for HTML text and attribute values."""
    return html.escape(str(value), quote=True)
