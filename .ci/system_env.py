"""Make an existing Python environment (a GPU image's, with its own CUDA torch) ready for the course.

    python .ci/system_env.py --extras test [--constraints constraints.txt]
    python .ci/system_env.py --download build/wheels-py312 --python-version 3.12 --extras test

The first form (``make ... USE_SYSTEM_TORCH=1 PYTHON=...`` runs it with that interpreter) never
replaces or upgrades torch or torchvision: it installs only the course's requirements that are
missing (pinned by the constraints file, except torch's own stack) and the course itself,
editable. With no package index reachable it installs from ``PIP_FIND_LINKS`` (a wheel folder),
or stops at once with one message naming every missing package. The second form (``make
gpu-wheels``) builds such a wheel folder for another Python from what this environment has.
"""

from __future__ import annotations

import argparse
import importlib.metadata as metadata
import importlib.util
import os
import re
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from oldest import Requirement, requirements  # noqa: E402  (the same pyproject reader)

REPO = Path(__file__).resolve().parents[1]
PROTECTED = ("torch", "torchvision")  # the machine's own builds: never installed here
NEVER = (
    "torch and torchvision are never installed or upgraded here: use an environment that has them, "
    "or leave out USE_SYSTEM_TORCH."
)


def canonical(name: str) -> str:
    """A distribution name as pip compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def is_torch_stack(name: str) -> bool:
    """torch, torchvision and the CUDA libraries and compiler that come with a torch build."""
    name = canonical(name)
    return name in PROTECTED or name == "triton" or name.startswith(("nvidia-", "cuda-"))


def installed(name: str) -> str | None:
    """The installed version of distribution ``name`` in this interpreter, or None."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def missing_requirements(reqs: list[str]) -> list[Requirement]:
    """Requirements (markers evaluated here) that no installed distribution satisfies, once each."""
    out, seen = [], set()
    for line in reqs:
        req = Requirement(line)
        if (req.marker and not req.marker.evaluate()) or canonical(req.name) in seen:
            continue
        seen.add(canonical(req.name))
        have = installed(req.name)
        if have is None or not req.specifier.contains(have, prereleases=True):
            out.append(req)
    return out


def check_torch(reqs: list[str]) -> dict[str, str]:
    """``{name: version}`` of the installed torch and torchvision; exits if either is absent or too old."""
    versions, problems = {}, []
    for line in reqs:
        req = Requirement(line)
        if canonical(req.name) not in PROTECTED:
            continue
        have = installed(req.name)
        if have is None:
            problems.append(f"{req.name} is not installed")
        elif not req.specifier.contains(have.split("+")[0], prereleases=True):
            problems.append(f"{req.name} {have} is older than the course supports ({req})")
        else:
            versions[req.name] = have
    if problems:
        raise SystemExit(f"USE_SYSTEM_TORCH=1 with {sys.executable}: {'; '.join(problems)}. {NEVER}")
    return versions


def course_is_here() -> bool:
    """Whether ``import course_utils`` finds this checkout's package."""
    spec = importlib.util.find_spec("course_utils")
    return bool(spec and spec.origin and Path(spec.origin).resolve().is_relative_to(REPO))


def pip_config_urls() -> list[str]:
    """The index and extra-index URLs pip would use here (environment and config files)."""
    out = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True)
    config = dict(re.findall(r"^(\S+?)='?(.*?)'?$", out.stdout, flags=re.MULTILINE))
    index = [v for k, v in config.items() if k.endswith(".index-url") and not k.endswith("extra-index-url")]
    extra = [u for k, v in config.items() if k.endswith("extra-index-url") for u in v.split()]
    return [os.environ.get("PIP_INDEX_URL") or (index[-1] if index else "https://pypi.org/simple"), *extra]


def index_reachable(timeout: float = 3.0) -> bool:
    """Whether any package index answers within ``timeout`` seconds (a local folder counts)."""
    if os.environ.get("PIP_NO_INDEX", "").lower() in ("1", "true", "yes", "on"):
        return False
    for url in pip_config_urls():
        if url.startswith("file://"):
            if Path(url[len("file://") :]).is_dir():
                return True
            continue
        try:
            with urllib.request.urlopen(url, timeout=timeout):
                return True
        except urllib.error.HTTPError as err:
            if err.code < 500:
                return True
        except (OSError, ValueError):
            continue
    return False


def constraints_for_missing(path: Path | None, torch_versions: dict[str, str]) -> Path:
    """A constraints file: torch and torchvision as installed, and the pins of what is not installed."""
    lines = [f"{name}=={version}" for name, version in torch_versions.items()]
    if path is not None:
        for line in path.read_text(encoding="utf-8").splitlines():
            name = re.split(r"[=<>!~ ;\[]", line.strip(), maxsplit=1)[0]
            if name and not line.startswith("#") and not is_torch_stack(name) and installed(name) is None:
                lines.append(line.strip())
    with tempfile.NamedTemporaryFile("w", suffix="-constraints.txt", delete=False) as handle:
        handle.write("\n".join(lines) + "\n")
    return Path(handle.name)


def pip(*args: str) -> None:
    """Run pip in this interpreter; exit with its status on failure."""
    print("+ pip " + " ".join(args), flush=True)
    status = subprocess.call([sys.executable, "-m", "pip", *args])
    if status:
        raise SystemExit(status)


def install(extras: list[str], constraints: Path | None) -> None:
    """Install what is missing for the course and ``extras``; torch and torchvision stay as they are."""
    absent = [name for name in PROTECTED if installed(name) is None]
    if absent:
        verb = "is" if len(absent) == 1 else "are"
        raise SystemExit(
            f"USE_SYSTEM_TORCH=1 with {sys.executable}: {' and '.join(absent)} {verb} not installed. {NEVER}"
        )
    reqs = requirements(REPO / "pyproject.toml", extras)
    torch_versions = check_torch(reqs)
    before = {name: metadata.distribution(name).locate_file("") for name in torch_versions}
    missing = [r for r in missing_requirements(reqs) if not is_torch_stack(r.name)]
    needs_course = not course_is_here()
    print(
        f"system-env: {sys.executable}: "
        + ", ".join(f"{n} {v}" for n, v in torch_versions.items())
        + f"; missing: {', '.join(str(r) for r in missing) or 'nothing'}"
        + ("; the course is not installed" if needs_course else ""),
        flush=True,
    )
    if not missing and not needs_course:
        return
    offline = []
    if not index_reachable():
        wheels = os.environ.get("PIP_FIND_LINKS", "")
        if not wheels:
            names = [str(r) for r in missing] + (
                ["course-utils (this checkout, editable)"] if needs_course else []
            )
            raise SystemExit(
                f"system-env: no package index answers, and PIP_FIND_LINKS names no wheel folder. Missing in "
                f"{sys.executable}: {', '.join(names)}. Build a wheel folder where an index answers (make "
                "gpu-wheels) and pass PIP_FIND_LINKS=/path/to/it."
            )
        offline = ["--no-index"]
    pinned = constraints_for_missing(constraints, torch_versions)
    try:
        if missing:
            pip("install", *offline, "--progress-bar", "off", "-c", str(pinned), *(str(r) for r in missing))
        if needs_course:
            # pyproject.toml's build requirement; with it here, no index or wheel is needed to build.
            setuptools = int((installed("setuptools") or "0").split(".")[0])
            isolation = ["--no-build-isolation"] if setuptools >= 77 else []
            pip("install", *offline, *isolation, "--no-deps", "-e", str(REPO))
    finally:
        pinned.unlink()
    after = {name: metadata.distribution(name).locate_file("") for name in torch_versions}
    changed = [n for n in torch_versions if installed(n) != torch_versions[n] or after[n] != before[n]]
    if changed:
        raise SystemExit(f"system-env: {', '.join(changed)} changed while installing; this is a bug")


def closure(extras: list[str], python_version: str) -> dict[str, str]:
    """``{name: version}``: what the course and ``extras`` need on ``python_version``, by this
    environment's installed releases, without torch's stack."""
    env = {"python_version": python_version, "python_full_version": f"{python_version}.0", "extra": ""}
    todo = [Requirement(r) for r in requirements(REPO / "pyproject.toml", extras)]
    found: dict[str, str] = {}
    while todo:
        req = todo.pop()
        if (req.marker and not req.marker.evaluate({**env, "extra": ""})) or is_torch_stack(req.name):
            continue
        if canonical(req.name) in found:
            continue
        version = installed(req.name)
        if version is None:
            raise SystemExit(f"gpu-wheels: {req} is not installed in {sys.executable}; run make setup first")
        found[canonical(req.name)] = version
        for sub in metadata.requires(req.name) or []:
            sub_req = Requirement(sub)
            if not sub_req.marker or any(
                sub_req.marker.evaluate({**env, "extra": e}) for e in (*req.extras, "")
            ):
                todo.append(sub_req)
    return found


def download(folder: Path, extras: list[str], python_version: str, skip: set[str]) -> None:
    """Download wheels of the closure (plus setuptools, for the editable install) into ``folder``,
    except the distributions in ``skip`` (those the target environment has)."""
    pins = closure(extras, python_version)
    pins.setdefault("setuptools", installed("setuptools") or "80.9.0")
    pins = {name: version for name, version in pins.items() if name not in {canonical(s) for s in skip}}
    platforms = [
        arg
        for tag in (
            "manylinux_2_28_x86_64",
            "manylinux_2_27_x86_64",
            "manylinux_2_17_x86_64",
            "manylinux2014_x86_64",
            "manylinux1_x86_64",
        )
        for arg in ("--platform", tag)
    ]
    folder.mkdir(parents=True, exist_ok=True)
    pip(
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--python-version",
        python_version,
        "--implementation",
        "cp",
        *platforms,
        "-d",
        str(folder),
        *(f"{n}=={v}" for n, v in sorted(pins.items())),
    )
    size = sum(f.stat().st_size for f in folder.glob("*.whl")) / 2**20
    print(f"gpu-wheels: {len(pins)} packages, {size:.1f} MiB in {folder}")


def main() -> None:
    """Parse arguments; install or download."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--extras", default="test", help="comma-separated extras of pyproject.toml")
    parser.add_argument("--constraints", type=Path, default=None)
    parser.add_argument("--download", type=Path, default=None, help="build a wheel folder here instead")
    parser.add_argument("--python-version", default="3.12", help="with --download: the target's Python")
    parser.add_argument("--skip", default="", help="with --download: space-separated names the target has")
    args = parser.parse_args()
    extras = [e for e in args.extras.split(",") if e]
    if args.download:
        download(args.download, extras, args.python_version, set(args.skip.split()))
    else:
        install(extras, args.constraints)


if __name__ == "__main__":
    main()
