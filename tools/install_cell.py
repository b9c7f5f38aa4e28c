"""The Colab install cell of every notebook, made from the one repository URL in _config.yml.

Usage: python tools/install_cell.py --check    (make check: exit 1 if a notebook disagrees)
       python tools/install_cell.py --write    (after a fork changes `repository.url`)

The first code cell of each notebook under book/ installs ntklib where it is missing (Colab) and
does nothing elsewhere. Its URL is `repository.url` of _config.yml, the same setting the launch
buttons use, so a fork changes one line and runs --write. The cell is tagged `remove-cell`: the
notebooks keep it, the HTML does not show it.
"""
from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parent.parent
TAG = "remove-cell"
TEMPLATE = """# On Colab, install the course library; where ntklib is importable this does nothing.
try:
    import ntklib
except ImportError:
    %pip install --quiet --no-deps "git+{url}\""""


def repository_url(root: Path = ROOT) -> str:
    return yaml.safe_load((root / "_config.yml").read_text())["repository"]["url"]


def expected_source(root: Path = ROOT) -> str:
    return TEMPLATE.format(url=repository_url(root))


def notebooks(root: Path = ROOT) -> list[Path]:
    return sorted(p for p in (root / "book").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)


def problems(path: Path, source: str) -> list[str]:
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    if not code or code[0].source != source:
        return [f"{path}: the first code cell is not the install cell for {repository_url()}: run "
                f"python tools/install_cell.py --write"]
    if TAG not in code[0].metadata.get("tags", []):
        return [f"{path}: the install cell lacks the {TAG!r} tag: run python tools/install_cell.py --write"]
    return []


def write(path: Path, source: str) -> bool:
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    first = code[0] if code and "ntklib" in code[0].source and "pip install" in code[0].source else None
    if first is None:
        first = nbformat.v4.new_code_cell(source)
        nb.cells.insert(next(i for i, c in enumerate(nb.cells) if c.cell_type == "code") if code else 0, first)
    changed = first.source != source or TAG not in first.metadata.get("tags", [])
    first.source = source
    first.metadata["tags"] = sorted(set(first.metadata.get("tags", [])) | {TAG})
    if changed:
        nbformat.write(nb, path)
    return changed


def main(argv: list[str]) -> int:
    if argv not in (["--check"], ["--write"]):
        print(__doc__)
        return 2
    source = expected_source()
    if argv == ["--write"]:
        changed = [str(p) for p in notebooks() if write(p, source)]
        print(f"install cells: {len(changed)} notebook(s) updated" + (": " + ", ".join(changed) if changed else ""))
        return 0
    found = [problem for path in notebooks() for problem in problems(path, source)]
    if found:
        print("install cell check failed:\n  " + "\n  ".join(found))
        return 1
    print(f"install cells: {len(notebooks())} notebooks install {repository_url()}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
