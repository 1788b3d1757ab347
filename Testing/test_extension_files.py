"""The extension files pass the Extensions Index's automatic checks (those that need no network).

Mirrors Slicer/ExtensionsIndex ``scripts/check_description_files.py``: JSON format and category,
project name = description file name, icon and screenshot URLs, LICENSE; plus the packaging
rule that every module file is listed in the module's CMakeLists.txt.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODULE_DIR = ROOT / "UnsupervisedSegment"
DESCRIPTION = ROOT / "UnsupervisedSegment.json"
#: A few of the Index's accepted categories (ACCEPTED_EXTENSION_CATEGORIES).
CATEGORIES = {"Segmentation", "Quantification", "Neuroimaging", "Analysis"}


@pytest.fixture(scope="module")
def top_cmake() -> str:
    return (ROOT / "CMakeLists.txt").read_text()


@pytest.fixture(scope="module")
def metadata() -> dict:
    return json.loads(DESCRIPTION.read_text())


def cmake_set(cmake: str, variable: str) -> str:
    """The quoted value of ``set(VARIABLE "...")`` (the Index's own regular expressions)."""
    match = re.search(rf'set\s*\({variable}\s*"([^"]+)"[ ]*\)', cmake, re.IGNORECASE)
    assert match, f"{variable} not set"
    return match.group(1)


def local_file(url: str) -> Path:
    """The repository file a raw.githubusercontent.com URL of the main branch points to."""
    parts = urlsplit(url)
    assert parts.scheme == "https" and parts.netloc == "raw.githubusercontent.com", url
    _owner, _repo, branch, *path = parts.path.strip("/").split("/")
    assert branch == "main", url
    return ROOT.joinpath(*path)


def test_description_file(metadata):
    raw = DESCRIPTION.read_bytes()
    assert b"\r" not in raw
    assert metadata["$schema"].startswith("https://raw.githubusercontent.com/Slicer/Slicer/main/Schemas/")
    assert metadata["category"] == "Segmentation" and metadata["category"] in CATEGORIES
    assert urlsplit(metadata["scm_url"]).scheme in ("https", "git")
    repository = urlsplit(metadata["scm_url"]).path.rstrip("/").split("/")[-1]
    assert repository.startswith("Slicer"), "the Index wants the git repository name to start with Slicer"
    assert not DESCRIPTION.stem.lower().startswith("slicer")
    assert metadata["scm_revision"] and metadata["tier"] in (1, 3, 5)


def test_project_name_matches_description(top_cmake):
    assert re.findall(r"project\s*\(\s*([^\s\)\n\r]+)", top_cmake, re.IGNORECASE)[0] == DESCRIPTION.stem


def test_metadata_and_slicer_build(top_cmake, metadata):
    for variable in ("EXTENSION_HOMEPAGE", "EXTENSION_CONTRIBUTORS", "EXTENSION_DESCRIPTION", "EXTENSION_DEPENDS"):
        assert cmake_set(top_cmake, variable)
    repository = metadata["scm_url"].rstrip("/")
    assert cmake_set(top_cmake, "EXTENSION_HOMEPAGE").startswith(repository)
    for snippet in ("find_package(Slicer REQUIRED)", "include(${Slicer_USE_FILE})", "add_subdirectory(UnsupervisedSegment)",
                    "include(${Slicer_EXTENSION_GENERATE_CONFIG})", "include(${Slicer_EXTENSION_CPACK})"):
        assert snippet in top_cmake


def test_icon_and_screenshots_exist(top_cmake, metadata):
    owner_repo = urlsplit(metadata["scm_url"]).path.strip("/")
    icon = cmake_set(top_cmake, "EXTENSION_ICONURL")
    screenshots = re.search(r'set\s*\(EXTENSION_SCREENSHOTURLS\s*"([^"]+)"\)', top_cmake).group(1).split()
    assert screenshots
    for url in [icon, *screenshots]:
        assert urlsplit(url).path.strip("/").startswith(owner_repo), url
        path = local_file(url)
        assert path.is_file(), f"{url} -> {path} missing"
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from PIL import Image

    assert Image.open(local_file(icon)).size == (128, 128)


def test_license_present():
    assert (ROOT / "LICENSE").is_file()


def test_module_cmake_lists_every_file():
    cmake = (MODULE_DIR / "CMakeLists.txt").read_text().replace("${MODULE_NAME}", "UnsupervisedSegment")
    listed = set(re.findall(r"^\s+([\w/]+\.(?:py|ui|png|txt|html))\s*$", cmake, re.MULTILINE))
    expected = {"UnsupervisedSegment.py", "Testing/Python/UnsupervisedSegmentSelfTest.py"}
    expected |= {str(p.relative_to(MODULE_DIR)) for p in (MODULE_DIR / "UnsupervisedSegmentLib").rglob("*.py")}
    expected |= {str(p.relative_to(MODULE_DIR)) for p in (MODULE_DIR / "UnsupervisedSegmentLib").rglob("*.html")}
    expected |= {str(p.relative_to(MODULE_DIR)) for p in (MODULE_DIR / "Resources").rglob("*") if p.is_file()}
    assert expected - listed == set(), "not packaged: add them to UnsupervisedSegment/CMakeLists.txt"
    assert listed - expected == set(), "listed but missing"
    assert "slicerMacroBuildScriptedModule(" in cmake and "WITH_GENERIC_TESTS" in cmake
    assert "slicer_add_python_unittest(SCRIPT Testing/Python/${MODULE_NAME}SelfTest.py)" in (MODULE_DIR / "CMakeLists.txt").read_text()
