"""ntklib: the small PyTorch library behind the ntk-course book."""
import importlib

from . import notebook

__version__ = "0.1.0"


def __getattr__(name):  # `nk.style` imports matplotlib only when a notebook asks for it
    if name == "style":
        return importlib.import_module(".style", __name__)
    raise AttributeError(f"module 'ntklib' has no attribute {name!r}")
