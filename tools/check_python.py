"""Check that an interpreter can run the course, before a virtual environment is made with it.

Usage: python tools/check_python.py [--quiet]

Exit 0 on CPython 3.11, 3.12 or 3.13 (the versions the pins were resolved and tested for),
else print what to do and exit 1. Needs only the standard library, so any python3 can run it.
"""
import sys

SUPPORTED = ((3, 11), (3, 12), (3, 13))


def main(argv: list[str]) -> int:
    version = sys.version_info[:2]
    if version in SUPPORTED and sys.implementation.name == "cpython":
        return 0
    if "--quiet" not in argv:
        names = ", ".join(f"{a}.{b}" for a, b in SUPPORTED)
        print(f"ntk-course needs CPython {names}; {sys.executable} is {sys.implementation.name} "
              f"{version[0]}.{version[1]}.\n"
              f"Install one (Debian/Ubuntu: sudo apt install python3.11-venv; macOS: brew install python@3.11;\n"
              f"any system: pyenv install 3.11), then run: make PYTHON=python3.11 book", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
