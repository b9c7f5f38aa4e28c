r"""The one plot style of the book.

White opaque background (the dark theme shows images on a white card), the Okabe-Ito
colour-blind-safe palette, 1.8 pt lines, 11 pt fonts, 6 x 3.8 inch figures, PNG output at
twice the display resolution (200 dpi shown at 100 dpi, sharp on high-density screens).
Theory is a solid dark line (``COLORS["theory"]``); finite-width results are coloured
markers; a quantity keeps its colour across the book.

This is the only module of ntklib that imports matplotlib.
"""
import matplotlib as mpl

#: Okabe-Ito palette (Okabe and Ito 2008), colour-blind safe.
OKABE_ITO = ["#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#000000"]

#: Colours by meaning, used the same way in every chapter.
COLORS = {
    "theory": "#000000",    # closed forms and infinite-width limits: solid black line
    "empirical": "#0072B2",  # finite-width measurements (blue)
    "network": "#D55E00",   # trained networks (vermilion)
    "linear": "#009E73",    # linearized models (green)
    "train": "#0072B2",
    "test": "#E69F00",
    "prior": "#56B4E9",
    "posterior": "#CC79A7",
    "data": "#000000",
}

_RC = {
    "figure.figsize": (6.0, 3.8),
    "figure.dpi": 100,
    "savefig.dpi": 150,
    "figure.facecolor": "white",
    "axes.facecolor": "white",
    "savefig.facecolor": "white",
    "savefig.transparent": False,
    "axes.prop_cycle": mpl.cycler(color=OKABE_ITO),
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "lines.linewidth": 1.8,
    "lines.markersize": 6,
    "font.size": 11,
    "axes.labelsize": 11,
    "legend.fontsize": 10,
    "legend.frameon": False,
    "figure.constrained_layout.use": True,
}


def use() -> None:
    """Apply the book's plot style (PNG figures, white background) to matplotlib.

    In Jupyter, figures are PNG only (nbval compares SVG text, which differs between runs) in
    the "retina" format: drawn at 2 x ``figure.dpi`` and shown at the size of ``figure.dpi``.

    >>> use(); import matplotlib.pyplot as plt; plt.rcParams["figure.facecolor"]
    'white'
    >>> plt.rcParams["savefig.transparent"], plt.rcParams["figure.dpi"]
    (False, 100.0)
    """
    mpl.rcParams.update(_RC)
    try:
        from matplotlib_inline.backend_inline import set_matplotlib_formats

        set_matplotlib_formats("retina")
    except ImportError:  # pragma: no cover - outside Jupyter
        pass
