"""The repository tools: the toc check, the notebook check, and deterministic execution."""
import importlib.util
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

ROOT = Path(__file__).resolve().parent.parent


def _tool(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


check_toc = _tool("check_toc")
check_notebooks = _tool("check_notebooks")
execute = _tool("execute")


def _book(tmp_path, toc, pages):
    (tmp_path / "_toc.yml").write_text(toc)
    for page in pages:
        path = tmp_path / page
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("# page\n")
    return tmp_path


TOC = """format: jb-book
root: book/intro
parts:
  - caption: Part
    chapters:
      - file: book/01_a
        sections:
          - file: book/sub/01_b
      - file: book/bibliography
"""
PAGES = ["book/intro.ipynb", "book/01_a.ipynb", "book/sub/01_b.md", "book/bibliography.md", "book/references.bib"]


def test_toc_check_passes_when_toc_and_pages_match(tmp_path, capsys):
    root = _book(tmp_path, TOC, PAGES)
    assert check_toc.check(root) == []
    assert check_toc.main([str(root)]) == 0
    assert "4 pages" in capsys.readouterr().out


def test_toc_check_reports_a_page_missing_from_the_toc(tmp_path, capsys):
    root = _book(tmp_path, TOC, PAGES + ["book/02_new.ipynb", "book/.ipynb_checkpoints/01_a-checkpoint.ipynb"])
    assert check_toc.check(root) == ["book/02_new is not in _toc.yml: add it (or delete the page)"]
    assert check_toc.main([str(root)]) == 1
    assert "book/02_new is not in _toc.yml" in capsys.readouterr().out


def test_toc_check_reports_missing_duplicate_and_ambiguous_entries(tmp_path):
    toc = TOC + "      - file: book/01_a\n      - file: book/ghost\n"
    root = _book(tmp_path, toc, PAGES + ["book/intro.md"])
    problems = check_toc.check(root)
    assert "_toc.yml entry 'book/intro' is ambiguous: both book/intro.ipynb and book/intro.md exist" in problems
    assert "_toc.yml lists 'book/01_a' twice" in problems
    assert "_toc.yml lists 'book/ghost', but neither book/ghost.ipynb nor book/ghost.md exists" in problems
    assert len(problems) == 3


def test_toc_check_expands_globs(tmp_path):
    toc = "format: jb-book\nroot: book/intro\nchapters:\n  - glob: book/ch*\n  - glob: book/none*\n"
    root = _book(tmp_path, toc, ["book/intro.md", "book/ch1.ipynb", "book/ch2.md"])
    assert check_toc.check(root) == ["_toc.yml glob 'book/none*' matches no page"]


def _notebook(*cells):
    nb = new_notebook(cells=list(cells))
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    return nb


def _write(tmp_path, nb, name="nb.ipynb"):
    path = tmp_path / name
    nbformat.write(nb, path)
    return path


def test_notebook_check_accepts_an_executed_notebook(tmp_path):
    nb = _notebook(new_markdown_cell("# t"), new_code_cell("print(1)", execution_count=1,
                   outputs=[new_output("stream", name="stdout", text="1\n")]), new_code_cell(""),
                   new_code_cell("x = 2", execution_count=2))
    assert check_notebooks.check_notebook(_write(tmp_path, nb)) == []


@pytest.mark.parametrize("cell, message", [
    (new_code_cell("1/0", execution_count=1, outputs=[new_output("error", ename="ZeroDivisionError",
                                                                  evalue="division by zero", traceback=[])]),
     "stores an error: ZeroDivisionError: division by zero"),
    (new_code_cell("import warnings", execution_count=1,
                   outputs=[new_output("stream", name="stderr", text="UserWarning: careful\n")]),
     "prints to stderr (fix the cause):\n    UserWarning: careful"),
    (new_code_cell("# NBVAL_SKIP\nx = 1", execution_count=1), "is marked NBVAL_SKIP"),
    (new_code_cell("# NBVAL_IGNORE_OUTPUT\nx = 1", execution_count=1), "use the nbval-ignore-output tag"),
    (new_code_cell("x = 1  " + "#" * 90, execution_count=1), "1 code line(s) wider than 88 characters"),
    (new_code_cell("print('x' * 100)", execution_count=1,
                   outputs=[new_output("stream", name="stdout", text="x" * 100 + "\n")]),
     "1 output line(s) wider than 88 characters"),
    (new_code_cell('label = "mean $\\pm 2$ sd"', execution_count=1), "invalid escape sequence"),
    (new_code_cell("x = 1", execution_count=1, metadata={"tags": ["nbval-skip"]}), "is marked NBVAL_SKIP"),
])
def test_notebook_check_rejects(tmp_path, cell, message):
    problems = check_notebooks.check_notebook(_write(tmp_path, _notebook(new_markdown_cell("# t"), cell)))
    assert len(problems) == 1 and message in problems[0] and "cell 2" in problems[0], problems


def test_notebook_check_reports_unexecuted_cells_once_per_notebook(tmp_path):
    nb = _notebook(new_markdown_cell("# t"), new_code_cell("x = 1"), new_code_cell(""), new_code_cell("y = 2"))
    path = _write(tmp_path, nb)
    assert check_notebooks.check_notebook(path) == [
        f"{path}: 2 code cell(s) never executed (cells 2, 4): run make notebooks NB={path}"]


def test_notebook_check_rejects_out_of_order_execution(tmp_path):
    nb = _notebook(new_code_cell("x = 1", execution_count=2), new_code_cell("y = x", execution_count=1))
    problems = check_notebooks.check_notebook(_write(tmp_path, nb))
    assert len(problems) == 1 and "ran out of order" in problems[0]


def test_notebook_check_rejects_invalid_json(tmp_path, capsys):
    path = tmp_path / "broken.ipynb"
    path.write_text("{not json")
    assert check_notebooks.main([str(path)]) == 1
    assert "not a valid notebook" in capsys.readouterr().out


def test_execute_is_deterministic(tmp_path):
    """Two runs give byte-identical files: no timing metadata, counts 1..n, fixed language_info."""
    nb = _notebook(new_code_cell("import sys\nprint(sorted({'b', 'a', 'c'}))"), new_markdown_cell("text"),
                   new_code_cell("x = 2"), new_code_cell("x * 21"))
    nb.cells[0].metadata["execution"] = {"iopub.execute_input": "2020-01-01T00:00:00Z"}
    path = _write(tmp_path, nb)
    execute.execute(path)
    first = path.read_bytes()
    execute.execute(path)
    assert path.read_bytes() == first
    ran = nbformat.read(path, as_version=4)
    code = [c for c in ran.cells if c.cell_type == "code"]
    assert [c.execution_count for c in code] == [1, 2, 3]
    assert all("execution" not in c.metadata for c in ran.cells)
    assert code[0].outputs[0].text == "['a', 'b', 'c']\n"
    assert code[2].outputs[0].data["text/plain"] == "42"
    assert ran.metadata["language_info"] == {"name": "python", "file_extension": ".py"}
    assert check_notebooks.check_notebook(path) == []


def test_execute_usage(capsys):
    assert execute.main([]) == 2
    assert "Usage" in capsys.readouterr().out


# --- issue 10: every notebook compiles cleanly; supported Pythons; one repository URL -------

check_python = _tool("check_python")
install_cell = _tool("install_cell")


def test_every_notebook_code_cell_compiles_without_warnings():
    """Invalid escapes print a SyntaxWarning to students on Python 3.12+: none may land."""
    found = []
    for path in sorted((ROOT / "book").glob("*.ipynb")):
        for number, cell in enumerate(nbformat.read(path, as_version=4).cells, start=1):
            if cell.cell_type == "code":
                found += [f"{path.name} cell {number}: {w}" for w in check_notebooks.compile_warnings(cell.source)]
    assert not found, found


def test_check_python(monkeypatch, capsys):
    assert check_python.main([]) == 0  # the test runs on a supported version
    monkeypatch.setattr(check_python, "SUPPORTED", ((3, 99),))
    assert check_python.main([]) == 1
    assert "needs CPython 3.99" in capsys.readouterr().err
    assert check_python.main(["--quiet"]) == 1 and capsys.readouterr().err == ""


def test_install_cells_follow_the_repository_url(tmp_path):
    source = install_cell.expected_source()
    assert install_cell.repository_url() in source
    assert all(install_cell.problems(p, source) == [] for p in install_cell.notebooks()), \
        [install_cell.problems(p, source) for p in install_cell.notebooks()]
    path = tmp_path / "x.ipynb"
    nbformat.write(_notebook(new_markdown_cell("# t"), new_code_cell(source.replace("ntk-course/ntk-course", "me/fork"))),
                   path)
    assert "not the install cell" in install_cell.problems(path, source)[0]
    assert install_cell.write(path, source) and install_cell.problems(path, source) == []


def test_library_and_tools_compile_without_warnings():
    """A warning at compile time would be printed to students on the first import (stderr in a notebook)."""
    found = []
    for path in sorted([*(ROOT / "ntklib").glob("*.py"), *(ROOT / "tools").glob("*.py")]):
        found += [f"{path.name}: {w}" for w in check_notebooks.compile_warnings(path.read_text())]
    assert not found, found
