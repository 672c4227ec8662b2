"""Writing an experiment's outputs: CSV tables and seaborn figures (PNG + PDF), atomically.

Every file goes through ``rundir.atomic_write`` (temp file in the same folder, fsync, os.replace),
so a workflow rule killed mid-write never leaves half a table for the next rule to read. Figures
carry no creation date, so the same seed gives byte-identical files.
"""

from __future__ import annotations

import functools
import io
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, ParamSpec

import matplotlib

matplotlib.use("Agg")  # headless: workflow jobs have no display

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
import torch  # noqa: E402

from ..rundir import atomic_write, atomic_write_text  # noqa: E402

FIGURE_FORMATS = ("png", "pdf")
# Matplotlib stamps PDFs with the time of writing; drop it so reruns are byte-identical.
_METADATA = {"png": {"Software": None}, "pdf": {"CreationDate": None, "Producer": None}}


def write_table(frame: pd.DataFrame, path: Path) -> Path:
    """``frame`` as CSV (floats in full precision) at ``path``."""
    atomic_write_text(path, frame.to_csv(index=False, lineterminator="\n"))
    return path


def save_figure(fig: plt.Figure, stem: Path, dpi: int = 100) -> list[Path]:
    """``fig`` as ``stem.png`` and ``stem.pdf``; closes the figure and returns both paths.

    Figures are made with ``layout="constrained"``: the layout is solved while drawing the first
    format and then frozen, with no tight-layout or tight-bbox pass (each a full draw, seconds for
    a dozen axes on a busy 2-core machine).
    """
    paths = []
    for fmt in FIGURE_FORMATS:
        buffer = io.BytesIO()
        with figure_style():  # ticks are made while drawing and read the style then
            fig.savefig(buffer, format=fmt, dpi=dpi, metadata=_METADATA[fmt])
        path = stem.with_suffix(f".{fmt}")
        data = buffer.getvalue()
        atomic_write(path, lambda handle: handle.write(data))  # noqa: B023 (called right here)
        paths.append(path)
        fig.set_layout_engine("none")  # keep the solved layout for the next format
    plt.close(fig)
    return paths


@contextmanager
def figure_style() -> Iterator[None]:
    """One look for all theory figures, without changing matplotlib's global state."""
    with sns.axes_style("whitegrid"), sns.plotting_context("paper", font_scale=1.1):
        yield


P = ParamSpec("P")


def styled(build: Callable[P, plt.Figure]) -> Callable[P, plt.Figure]:
    """Decorate a figure builder so it draws in the shared theory style."""
    @functools.wraps(build)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> plt.Figure:
        with figure_style():
            return build(*args, **kwargs)

    return wrapper


@contextmanager
def single_thread() -> Iterator[None]:
    """Run torch on one thread: the experiments are tiny, and the machines running the workflow
    share their cores between jobs. The previous setting is restored afterwards."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
