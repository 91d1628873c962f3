"""Print a pip constraints file pinning every ``>=`` floor in pyproject.toml to exactly that release.

    python .ci/oldest.py pyproject.toml --extras lab,test,lint > build/oldest-constraints.txt

``make test-oldest`` installs the course with it, so the floors that pyproject.toml promises
are the releases that are tested. Requirements without a floor are left to pip.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10: tomli, or pip's own copy; requirements() says when neither
    try:
        import tomli as tomllib
    except ImportError:
        try:
            from pip._vendor import tomli as tomllib
        except ImportError:
            tomllib = None  # type: ignore[assignment]

try:
    from packaging.requirements import Requirement
    from packaging.version import Version
except ImportError:  # a bare interpreter: pip's own copy, if there is a pip
    try:
        from pip._vendor.packaging.requirements import Requirement
        from pip._vendor.packaging.version import Version
    except ImportError:
        Requirement = Version = None  # type: ignore[assignment,misc]  # requirements() says what to install


def requirements(pyproject: Path, extras: list[str]) -> list[str]:
    """The project's dependencies plus those of ``extras``, as written."""
    if Requirement is None or tomllib is None:
        raise SystemExit(f"{sys.executable} has neither packaging nor pip: install pip (python -m ensurepip)")
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    optional = project.get("optional-dependencies", {})
    unknown = [e for e in extras if e not in optional]
    if unknown:
        raise SystemExit(f"oldest.py: {pyproject} has no extra {', '.join(unknown)}")
    return [*project["dependencies"], *(r for e in extras for r in optional[e])]


def floors(lines: list[str]) -> list[str]:
    """``name==floor ; marker`` for every requirement with a ``>=`` bound, once per name.

    A name required twice (ipywidgets: >= 7.7.1 for Colab, >= 8.0 in the lab extra) gets
    the higher floor, the oldest release that satisfies both.
    """
    pins: dict[str, tuple[str, str]] = {}  # name: (floor, pin)
    for line in lines:
        req = Requirement(line)
        lows = [s.version for s in req.specifier if s.operator == ">="]
        if not lows:
            continue
        low = max(lows, key=Version)
        marker = f" ; {req.marker}" if req.marker else ""
        name = re.sub(r"[-_.]+", "-", req.name).lower()  # PEP 503: Foo_Bar and foo-bar are one
        known = pins.get(name)
        if known is None or Version(low) > Version(known[0]):
            pins[name] = (low, f"{req.name}=={low}{marker}")
    return sorted((pin for _, pin in pins.values()), key=str.lower)


def main() -> None:
    """Parse arguments and print the constraints."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pyproject", type=Path)
    parser.add_argument("--extras", default="", help="comma-separated extras, e.g. lab,test")
    args = parser.parse_args()
    extras = [e for e in args.extras.split(",") if e]
    print(f"# The floors of {args.pyproject} (extras: {args.extras or 'none'}). Written by .ci/oldest.py.")
    print("\n".join(floors(requirements(args.pyproject, extras))))


if __name__ == "__main__":
    main()
