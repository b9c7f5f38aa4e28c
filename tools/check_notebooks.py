"""Check the stored outputs of the book's notebooks before the strict build renders them.

Usage: python tools/check_notebooks.py [NOTEBOOK ...]    (default: every book/**/*.ipynb)

The book is built from stored outputs (`execute_notebooks: "off"`), so a notebook saved
with a traceback would render it without a warning. This check fails (exit 1, one line
per problem) when a notebook
- is not valid nbformat 4;
- has a non-empty code cell that was never executed, or cells not run top to bottom
  (execution counts must increase down the notebook: run `make notebooks NB=...`);
- stores an error output (a traceback) or text on stderr (a warning shown to readers);
- uses `# NBVAL_SKIP` or the `nbval-skip` tag (the cell would never be tested, and later
  cells would lose its state), or the `# NBVAL_IGNORE_OUTPUT` comment (readers see it: use
  the `nbval-ignore-output` cell tag);
- has a code line or a printed (text) output line wider than the book's code column,
  88 characters: the reader would have to scroll sideways;
- compiles with a SyntaxWarning or DeprecationWarning (an invalid escape such as "\\p"
  prints a warning to students on Python 3.12+).
nbval (make nbval) then proves that the stored outputs are what the code prints today.
"""
from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

import nbformat

SKIP_MARKERS = ("# NBVAL_SKIP",)
SKIP_TAGS = ("nbval-skip",)
WIDTH = 88  # characters in the book's code column at 1400 px


def compile_warnings(source: str) -> list[str]:
    """The SyntaxWarning/DeprecationWarning messages of compiling one cell (IPython magics blanked)."""
    code = "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            compile(code, "<cell>", "exec")
        except SyntaxError:
            return []  # not plain Python (a magic-only cell); nbval runs it
    return [f"{w.category.__name__}: {w.message}" for w in caught
            if issubclass(w.category, (SyntaxWarning, DeprecationWarning))]


def output_lines(out) -> list[str]:
    if out.output_type == "stream":
        return out.get("text", "").splitlines()
    if out.output_type in ("execute_result", "display_data"):
        data = out.get("data", {})
        if "text/plain" in data and not {"text/html", "text/latex", "image/png", "text/markdown"} & set(data):
            return "".join(data["text/plain"]).splitlines()
    return []


def check_notebook(path: Path) -> list[str]:
    """Return the problems found in one notebook (empty when it is fine)."""
    try:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
    except Exception as exc:  # noqa: BLE001 - any read/validation failure is a problem to report
        return [f"{path}: not a valid notebook ({type(exc).__name__}: {exc})"]
    problems, unexecuted, last_count = [], [], 0
    for number, cell in enumerate(nb.cells, start=1):
        if cell.cell_type != "code":
            continue
        where = f"{path}: cell {number}"
        lines = [line.strip() for line in cell.source.splitlines()]
        if any(line in SKIP_MARKERS for line in lines) or set(cell.metadata.get("tags", [])) & set(SKIP_TAGS):
            problems.append(f"{where} is marked NBVAL_SKIP: never skip a cell, make it fast instead")
        if "# NBVAL_IGNORE_OUTPUT" in lines:
            problems.append(f"{where} shows the # NBVAL_IGNORE_OUTPUT comment: use the nbval-ignore-output tag")
        wide = [len(line) for line in cell.source.splitlines() if len(line) > WIDTH]
        if wide:
            problems.append(f"{where}: {len(wide)} code line(s) wider than {WIDTH} characters (up to {max(wide)})")
        problems += [f"{where} compiles with {w}" for w in compile_warnings(cell.source)]
        if not cell.source.strip():
            continue
        count = cell.execution_count
        if count is None:
            unexecuted.append(number)
        elif count <= last_count:
            problems.append(f"{where} ran out of order (execution count {count} after {last_count}): "
                            f"re-run top to bottom with make notebooks NB={path}")
        else:
            last_count = count
        wide = [len(line) for out in cell.get("outputs", []) for line in output_lines(out) if len(line) > WIDTH]
        if wide:
            problems.append(f"{where}: {len(wide)} output line(s) wider than {WIDTH} characters (up to {max(wide)})")
        for out in cell.get("outputs", []):
            if out.output_type == "error":
                problems.append(f"{where} stores an error: {out.get('ename', '')}: {out.get('evalue', '')}")
            elif out.output_type == "stream" and out.get("name") == "stderr":
                text = out.get("text", "").strip()
                problems.append(f"{where} prints to stderr (fix the cause):\n    " + text.replace("\n", "\n    "))
    if unexecuted:
        cells = ", ".join(map(str, unexecuted[:8])) + (", ..." if len(unexecuted) > 8 else "")
        problems.append(f"{path}: {len(unexecuted)} code cell(s) never executed (cells {cells}): "
                        f"run make notebooks NB={path}")
    return problems


def main(argv: list[str]) -> int:
    if not argv:  # every notebook of the book, named relative to the repository root
        os.chdir(Path(__file__).resolve().parent.parent)
    paths = [Path(p) for p in argv] or sorted(
        p for p in Path("book").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts
    )
    problems = [problem for path in paths for problem in check_notebook(path)]
    if problems:
        print("notebook check failed:\n  " + "\n  ".join(problems))
        return 1
    print(f"notebooks: {len(paths)} checked: executed top to bottom, no errors, no stderr, no NBVAL_SKIP")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
