"""The three descriptions of the environment agree: requirements.txt (pip, the Makefile),
pyproject.toml (the package) and environment.yml (conda, Binder)."""
import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent


def _name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins(lines, where: str) -> dict[str, str]:
    """name -> version for lines `name==version`; anything else is an error."""
    pins = {}
    for line in lines:
        req = Requirement(line)
        specs = list(req.specifier)
        assert len(specs) == 1 and specs[0].operator == "==", f"{where}: '{line}' is not an exact pin name==version"
        assert _name(req.name) not in pins, f"{where}: {req.name} is listed twice"
        pins[_name(req.name)] = specs[0].version
    return pins


def requirements() -> dict[str, str]:
    lines = [line.split("#", 1)[0].strip() for line in (ROOT / "requirements.txt").read_text().splitlines()]
    return _pins([line for line in lines if line], "requirements.txt")


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def environment() -> dict:
    return yaml.safe_load((ROOT / "environment.yml").read_text())


def test_pyproject_pins_are_the_requirements():
    project = pyproject()["project"]
    groups = {"dependencies": project["dependencies"], **project.get("optional-dependencies", {})}
    listed = {}
    for group, lines in groups.items():
        for name, version in _pins(lines, f"pyproject.toml [{group}]").items():
            assert name not in listed, f"pyproject.toml lists {name} in two groups"
            listed[name] = version
    assert listed == requirements(), "pyproject.toml and requirements.txt must pin the same packages to the same versions"


def test_environment_yml_delegates_to_the_requirements():
    env = environment()
    deps = env["dependencies"]
    conda = [d for d in deps if isinstance(d, str)]
    pip_sections = [d["pip"] for d in deps if isinstance(d, dict) and "pip" in d]
    assert len(pip_sections) == 1, "environment.yml needs exactly one pip: section"
    pip = pip_sections[0]
    assert "python=3.11" in conda, "environment.yml must pin python=3.11, the version the pins were resolved for"
    assert "pip" in conda
    assert "-r requirements.txt" in pip and "-e ." in pip, "environment.yml must install -r requirements.txt and -e ."
    assert pip.index("-r requirements.txt") < pip.index("-e ."), "install the pins before (or with) the package"
    # Any package named directly in environment.yml must carry the same pin as requirements.txt.
    pins = requirements()
    direct_pip = [line for line in pip if not line.startswith("-")]
    for name, version in _pins(direct_pip, "environment.yml pip").items():
        assert pins.get(name) == version, f"environment.yml pins {name}=={version}, requirements.txt {pins.get(name)}"
    for dep in conda:
        name, _, version = dep.partition("=")
        if _name(name) in pins and version:
            assert version.lstrip("=") == pins[_name(name)], f"environment.yml: {dep} vs requirements.txt {pins[_name(name)]}"


def test_python_versions_agree():
    requires = pyproject()["project"]["requires-python"]
    assert Version("3.11") in SpecifierSet(requires), f"requires-python {requires} must admit 3.11 (environment.yml)"


def test_key_pins():
    pins = requirements()
    assert pins["torch"] == "2.13.0"
    assert Version(pins["jupyter-book"]) < Version("2"), "jupyter-book 2 ignores _config.yml/_toc.yml: keep 1.x"
    assert pins["jupyter-book"] == "1.0.4.post1"
    for name in ("nbval", "numpy", "matplotlib", "sympy", "sphinx-exercise", "sphinxcontrib-bibtex",
                 "sphinx-mathjax-offline", "pytest-xdist"):
        assert name in pins, f"requirements.txt must pin {name}"


@pytest.mark.skipif(sys.prefix == sys.base_prefix, reason="checks the project's virtual environment only")
def test_installed_versions_match_the_pins():
    """The running environment (.venv) has what the pins say (torch's local label +cpu aside)."""
    wrong = {}
    for name, version in requirements().items():
        try:
            installed = Version(metadata.version(name)).public
        except metadata.PackageNotFoundError:
            installed = None
        if installed != Version(version).public:
            wrong[name] = (version, installed)
    assert not wrong, f"pinned vs installed (run `make venv`): {wrong}"
