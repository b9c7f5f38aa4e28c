r"""ntklib: the small PyTorch library behind the ntk-course book.

Analytic NNGP/NTK kernels (:mod:`.kernels`), networks in NTK parameterization
(:mod:`.networks`), empirical NTKs (:mod:`.empirical`), linearized models (:mod:`.linearize`),
closed-form MSE dynamics (:mod:`.dynamics`), Gaussian-process posteriors (:mod:`.gp`),
training with diagnostics (:mod:`.train`, :mod:`.lazy`), Monte Carlo checks
(:mod:`.montecarlo`), SymPy helpers (:mod:`.symbolic`), data (:mod:`.data`), notebook
helpers (:mod:`.notebook`) and the plot style (:mod:`.style`, imported on first use).

Importing ntklib changes no global state.
"""
import importlib

from . import data, notebook, symbolic
from .activations import dphi, gaussian_expectations, phi
from .dynamics import Prediction, gd_matrix_power, max_learning_rate, mse_predictor
from .empirical import empirical_ntk, jacobian
from .gp import Posterior, gp_posterior, ntk_gp_posterior
from .kernels import Kernels, Layer, kernel_layers, kernels, nngp, ntk
from .lazy import Scaled, activation_flips, laziness_ratio, relative_change
from .linearize import Linearized, linearize
from .montecarlo import MonteCarlo, monte_carlo_kernels
from .networks import MLP, Dense
from .train import History, flat_parameters, mse_loss, train_mse
from .cnn import CNN
from .conv import conv_kernels
from .scaling import ScaledMLP, feature_change, final_losses
from . import spectral

__version__ = "0.1.0"

__all__ = [
    "Dense", "History", "Kernels", "Layer", "Linearized", "MLP", "MonteCarlo", "Posterior", "Prediction", "Scaled",
    "activation_flips", "data", "dphi", "empirical_ntk", "flat_parameters", "gaussian_expectations", "gd_matrix_power",
    "gp_posterior", "jacobian", "kernel_layers", "kernels", "laziness_ratio", "linearize", "max_learning_rate",
    "monte_carlo_kernels", "mse_loss", "mse_predictor", "nngp", "notebook", "ntk", "ntk_gp_posterior", "phi",
    "relative_change", "style", "symbolic", "train_mse",
    "CNN", "conv_kernels",
    "ScaledMLP", "feature_change", "final_losses", "scaling", "spectral",
]


def __getattr__(name):  # `nk.style` imports matplotlib only when a notebook asks for it
    if name == "style":
        return importlib.import_module(".style", __name__)
    raise AttributeError(f"module 'ntklib' has no attribute {name!r}")
