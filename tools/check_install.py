"""Prove that a fresh Linux machine installs the CPU build of torch and no CUDA package.

Usage: python tools/check_install.py TORCH_STEP...   (make install-check passes the Makefile's
       TORCH_STEP, the arguments of its first pip step; CI runs it; needs the registry)

It replays the Makefile's two pip steps in a temporary virtual environment:
1. torch's own step, `pip install --no-deps --index-url <CPU index> torch==X` on Linux: with
   --no-deps nothing but torch can come with it, and the CPU index holds only CPU builds
   (here, where that index cannot be reached, the same +cpu wheel comes from the local folder);
2. everything else, `pip install -r requirements.txt -e .`, as a dry run with this machine's
   local wheel folder and pip configuration switched off (PIP_FIND_LINKS=, PIP_CONFIG_FILE=
   /dev/null), so every package is resolved from the public registry as on a student's machine.
It fails if step 1 did not give a +cpu build or step 2 would install any nvidia-* or triton.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CUDA = re.compile(r"^(nvidia-.*|triton|cuda-.*)$")


def main(torch_step: list[str]) -> int:
    if not torch_step:
        raise SystemExit("usage: check_install.py TORCH_STEP... (see `make install-check`)")
    with tempfile.TemporaryDirectory() as tmp:
        venv = Path(tmp) / "venv"
        subprocess.run([getattr(sys, "_base_executable", sys.executable), "-m", "venv", str(venv)], check=True)
        pip = [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check"]
        step1 = pip + ["install", "--quiet"] + torch_step
        print("step 1:", " ".join(step1[3:]))
        subprocess.run(step1, check=True)
        torch = subprocess.run(pip + ["show", "torch"], capture_output=True, text=True, check=True).stdout
        version = re.search(r"^Version: (.+)$", torch, re.M).group(1)
        env = dict(os.environ, PIP_FIND_LINKS="", PIP_CONFIG_FILE=os.devnull, PIP_CONSTRAINT="")
        step2 = pip + ["install", "--dry-run", "--quiet", "--report", "-", "-r", "requirements.txt", "-e", "."]
        print("step 2 (dry run, local wheels off):", " ".join(step2[3:]))
        report = json.loads(subprocess.run(step2, cwd=ROOT, env=env, capture_output=True, text=True,
                                           check=True).stdout)
    names = sorted(item["metadata"]["name"].lower() for item in report["install"])
    cuda = [n for n in names if CUDA.match(n)]
    print(f"torch installed by step 1: {version}; step 2 would install {len(names)} packages, "
          f"CUDA packages among them: {cuda or 'none'}")
    if not version.endswith("+cpu") and sys.platform.startswith("linux"):
        print("FAIL: step 1 did not install the CPU build of torch")
        return 1
    if "torch" in names or cuda:
        print("FAIL: step 2 would install torch or CUDA packages")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
