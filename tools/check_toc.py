"""Check that _toc.yml and the pages under book/ match, both ways.

Usage: python tools/check_toc.py [REPO_ROOT]    (default: the folder above tools/)

Fails (exit 1, one line per problem) when
- a page under book/ (.ipynb or .md, outside .ipynb_checkpoints) is not in _toc.yml:
  Jupyter Book would leave it out of the book (`only_build_toc_files: true`);
- a _toc.yml entry (root, file, or a glob that matches nothing) names no existing page;
- an entry is listed twice, or one entry matches both X.md and X.ipynb.
Prints "toc: N pages, all listed and present" otherwise.
"""
from __future__ import annotations

import sys
from pathlib import Path

import yaml

PAGE_SUFFIXES = (".ipynb", ".md")


def toc_entries(toc: dict) -> tuple[list[str], list[str]]:
    """Return the (files, globs) named in a jb-book/jb-article _toc.yml, in order."""
    files, globs = [], []
    if "root" in toc:
        files.append(str(toc["root"]))

    def walk(node):
        if isinstance(node, list):
            for item in node:
                walk(item)
        elif isinstance(node, dict):
            if "file" in node:
                files.append(str(node["file"]))
            if "glob" in node:
                globs.append(str(node["glob"]))
            for key in ("parts", "chapters", "sections", "subtrees", "entries"):
                walk(node.get(key))

    walk({k: v for k, v in toc.items() if k != "root"})
    return files, globs


def book_pages(root: Path) -> list[str]:
    """Pages under root/book, as toc entries: repo-relative paths without the suffix."""
    pages = []
    for path in sorted((root / "book").rglob("*")):
        if path.suffix in PAGE_SUFFIXES and path.is_file() and ".ipynb_checkpoints" not in path.parts:
            pages.append(path.relative_to(root).with_suffix("").as_posix())
    return pages


def _strip_suffix(entry: str) -> str:
    for suffix in PAGE_SUFFIXES:
        if entry.endswith(suffix):
            return entry[: -len(suffix)]
    return entry


def check(root: Path) -> list[str]:
    """Return the problems found (empty when the toc and book/ agree)."""
    toc_path = root / "_toc.yml"
    if not toc_path.is_file():
        return [f"{toc_path}: not found"]
    toc = yaml.safe_load(toc_path.read_text()) or {}
    files, globs = toc_entries(toc)
    problems, listed = [], set()
    for entry in files:
        stem = _strip_suffix(entry)
        found = [s for s in PAGE_SUFFIXES if (root / (stem + s)).is_file()]
        if stem in listed:
            problems.append(f"_toc.yml lists '{entry}' twice")
        elif not found:
            problems.append(f"_toc.yml lists '{entry}', but neither {stem}.ipynb nor {stem}.md exists")
        elif len(found) > 1 and stem == entry:
            problems.append(f"_toc.yml entry '{entry}' is ambiguous: both {stem}.ipynb and {stem}.md exist")
        listed.add(stem)
    for pattern in globs:
        matched = {_strip_suffix(p.relative_to(root).as_posix()) for p in root.glob(pattern)
                   if p.suffix in PAGE_SUFFIXES}
        if not matched:
            problems.append(f"_toc.yml glob '{pattern}' matches no page")
        listed |= matched
    pages = book_pages(root)
    for page in pages:
        if page not in listed:
            problems.append(f"{page} is not in _toc.yml: add it (or delete the page)")
    return problems


def main(argv: list[str]) -> int:
    root = Path(argv[0]) if argv else Path(__file__).resolve().parent.parent
    problems = check(root)
    if problems:
        print("toc check failed:\n  " + "\n  ".join(problems))
        return 1
    print(f"toc: {len(book_pages(root))} pages under book/, all listed in _toc.yml and present")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
