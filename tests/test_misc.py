"""symbolic, data, notebook and style helpers; a CUDA smoke test when a GPU is present."""

import matplotlib
import pytest
import sympy as sp
import torch

from conftest import ATOL
import ntklib as nk


def test_symbolic_duals_match_numeric():
    a, b, c = sp.symbols("a b c", positive=True)
    for name, sym in (("relu", nk.symbolic.relu_dual_sym), ("erf", nk.symbolic.erf_dual_sym)):
        e, ed = (nk.symbolic.to_torch(expr, [a, b, c]) for expr in sym(a, b, c))
        s11, s12, s22 = torch.tensor([1.2, 0.5]), torch.tensor([0.3, -0.2]), torch.tensor([0.9, 0.7])
        ne, ned = nk.gaussian_expectations(name, s11, s12, s22)
        assert (e(s11, s22, s12) - ne).abs().max() < ATOL and (ed(s11, s22, s12) - ned).abs().max() < ATOL  # symbols a, b, c


def test_gaussian_expectation_sym():
    a = sp.Symbol("a", positive=True)
    assert sp.simplify(nk.symbolic.gaussian_expectation_sym(lambda z: z**2, a) - a) == 0
    assert sp.simplify(nk.symbolic.gaussian_expectation_sym(lambda z: z**4, a) - 3 * a**2) == 0


def test_data():
    x = nk.data.circle(5, radius=2.0)
    assert torch.allclose(x.norm(dim=1), torch.full((5,), 2.0))
    d = nk.data.digits(200, 100, seed=3)
    assert torch.allclose(d.x_train.norm(dim=1), torch.ones(200)) and d.y_train.sum(1).allclose(torch.full((200,), 0.0))
    assert torch.equal(d.y_test.argmax(1), d.label_test)
    with pytest.raises(ValueError, match="n_train"):
        nk.data.digits(1700, 200)
    with pytest.raises(ValueError, match="n"):
        nk.data.circle(0)


def test_notebook_helpers(capsys):
    nk.notebook.agree(sp.Matrix([[1, 2]]), torch.tensor([[1.0, 2.0 + 1e-12]]))
    assert capsys.readouterr().out == "SymPy and ntklib agree to within atol=1e-10 (2 values compared).\n"
    with pytest.raises(AssertionError, match="disagree"):
        nk.notebook.agree(1.0, 1.1)
    with pytest.raises(ValueError, match="shape"):
        nk.notebook.agree([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="claim"):
        nk.notebook.claim("a", "b | c", paper="p", measured="d", scale="s")
    with pytest.raises(ValueError, match="kind"):
        nk.notebook.claim("a", "b", paper="p", measured="d", scale="s", kind="proved")
    assert nk.notebook.loglog_slope([1, 2, 4], [1, 0.5, 0.25]) == pytest.approx(-1.0)
    with pytest.raises(ValueError, match="positive"):
        nk.notebook.loglog_slope([1, 2], [1, -1])


def test_import_changes_no_global_state():
    import subprocess
    import sys

    code = "import torch, sys; d = torch.get_default_dtype(); import ntklib; " \
           "assert torch.get_default_dtype() == d; assert 'matplotlib' not in sys.modules; print('ok')"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "ok"


def test_style_is_opaque():
    nk.style.use()
    assert matplotlib.rcParams["savefig.transparent"] is False and matplotlib.rcParams["figure.facecolor"] == "white"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_smoke():
    x = torch.randn(6, 3, device="cuda")
    k = nk.ntk(x, depth=2)
    assert k.device.type == "cuda" and torch.allclose(k.cpu(), nk.ntk(x.cpu(), depth=2), rtol=1e-5)
    net = nk.MLP(3, 64, 2).cuda()
    a, b = nk.empirical_ntk(net, x, method="layerwise"), nk.empirical_ntk(net, x, method="jacobian")
    assert a.device.type == "cuda" and torch.allclose(a, b, rtol=1e-5)


def test_claims_round_trip(tmp_path, capsys):
    long = "a statement long enough to be wrapped over two lines of the book's code column " * 2
    nk.notebook.claim("Lee et al. 2019, Fig. 1", long.strip(), paper="slope -1/2", measured="-0.51",
                      scale="ours n = 100-25600; theirs the same")
    nk.notebook.claim("the book, section 2", "an identity", paper="none", measured="1e-15",
                      scale="exact", kind="checked")
    text = capsys.readouterr().out
    assert max(map(len, text.splitlines())) <= nk.notebook.WIDTH
    nb = {"cells": [{"outputs": [{"text": text}]}]}
    path = tmp_path / "07_x.ipynb"
    path.write_text(__import__("json").dumps(nb))
    first, second = nk.notebook.read_claims([path])
    assert first == {"chapter": "07_x", "kind": "reproduced", "source": "Lee et al. 2019, Fig. 1",
                     "claim": long.strip(), "paper": "slope -1/2", "this book": "-0.51",
                     "scale": "ours n = 100-25600; theirs the same"}
    assert second["kind"] == "checked" and second["this book"] == "1e-15"
