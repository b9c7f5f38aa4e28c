"""Re-execute notebooks in place with deterministic, diff-friendly outputs.

Usage: python tools/execute.py book/a.ipynb [book/b.ipynb ...]

Each notebook runs in its own folder (as in Jupyter and nbval), with PYTHONHASHSEED=0.
Consecutive stream outputs are merged. No timing metadata is written (record_timing=False, and any old `execution` metadata is
dropped), execution counts are renumbered 1..n, and the kernel's language_info is
reduced to the fields that do not depend on the machine, so a re-run that changes no
number leaves `git diff` empty. Prints the wall time of each notebook.
"""
import os
import sys
import time
from pathlib import Path

import nbclient
import nbformat

os.environ["PYTHONHASHSEED"] = "0"
os.environ["OMP_NUM_THREADS"] = "1"  # as `make nbval`; small tensors, and two notebooks may run side by side


def merge_streams(outputs: list) -> list:
    """Join consecutive stdout (or stderr) outputs: how prints are split into chunks varies between runs."""
    merged = []
    for out in outputs:
        last = merged[-1] if merged else None
        if last is not None and out.output_type == "stream" == last.output_type and out.name == last.name:
            last.text += out.text
        else:
            merged.append(out)
    return merged


def execute(path: Path) -> float:
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb,
        timeout=600,
        kernel_name="python3",
        record_timing=False,
        # ipykernel's log warning about unencrypted local TCP is noise here; cell output is unaffected.
        extra_arguments=["--IPKernelApp.log_level=ERROR"],
        resources={"metadata": {"path": str(path.parent)}},
    )
    start = time.perf_counter()
    client.execute()
    elapsed = time.perf_counter() - start
    count = 0
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        if cell.cell_type == "code":
            count += 1
            cell.execution_count = count
            cell.outputs = merge_streams(cell.outputs)
            for out in cell.get("outputs", []):
                if "execution_count" in out:
                    out["execution_count"] = count
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    nb.metadata["language_info"] = {"name": "python", "file_extension": ".py"}
    nbformat.write(nb, path)
    return elapsed


def main(paths: list[str]) -> int:
    if not paths:
        print(__doc__)
        return 2
    for p in paths:
        seconds = execute(Path(p))
        print(f"{p}: executed in {seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
