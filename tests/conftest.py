"""Shared tolerances and settings for the ntklib tests (style.md, section 7)."""
import pytest
import torch
from hypothesis import settings

ATOL = 1e-10  # float64 identities: analytic vs SymPy, the empirical-NTK methods, GD vs matrix power, closed form vs expm
N_SE = 5  # Monte Carlo: within this many standard errors
RTOL32 = 1e-5  # float32 or CUDA

settings.register_profile("ntk", max_examples=50, deadline=None, derandomize=True)
settings.load_profile("ntk")


@pytest.fixture(autouse=True)
def float64_and_seed():
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    torch.manual_seed(0)
    yield
    torch.set_default_dtype(old)
