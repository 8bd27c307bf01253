"""Offline stand-in for pip-audit in CI: every installed security-relevant package is past its known advisories.

pip-audit cannot reach a vulnerability service from the build machines (see docs/ROBUSTNESS.md); this floor list
is the hand check of that document, enforced on every CI run so that a downgrade or an unpinned transitive
dependency below a fixed release fails the build.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

import pytest
from packaging.version import Version

from conftest import ROOT

#: package -> first release with the fix for the newest advisory we know of (and why)
FLOORS = {
    "gradio": ("6.20", "2024-2026 path traversal, SSRF and CORS fixes"),
    "starlette": ("0.47.2", "multipart DoS CVE-2024-47874, CVE-2025-54121"),
    "h11": ("0.16.0", "request smuggling CVE-2025-43859"),
    "python-multipart": ("0.0.18", "DoS CVE-2024-24762, CVE-2024-53981"),
    "jinja2": ("3.1.6", "sandbox escapes CVE-2024-56201, CVE-2024-56326, CVE-2025-27516"),
    "urllib3": ("2.6.0", "CVE-2025-50181/50182, CVE-2025-66418/66471"),
    "requests": ("2.32.4", "credential leak CVE-2024-47081"),
    "torch": ("2.6.0", "torch.load CVE-2025-32434"),
    "pillow": ("11.3.0", "CVE-2025-48379"),
    "protobuf": ("6.31.1", "recursion DoS CVE-2025-4565"),
    "onnx": ("1.16", "external data path traversal CVE-2024-27318"),
    "orjson": ("3.9.15", "no depth limit on nested JSON CVE-2024-27454"),
}


@pytest.mark.parametrize("package", sorted(FLOORS))
def test_installed_release_is_past_known_advisories(package: str) -> None:
    floor, why = FLOORS[package]
    try:
        installed = version(package)
    except PackageNotFoundError:
        pytest.skip(f"{package} is not installed")
    assert Version(installed).release >= Version(floor).release, f"{package} {installed} < {floor} ({why})"


def test_requirements_are_pinned() -> None:
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            assert "==" in line, f"requirements.txt: {line!r} is not pinned to one release"
