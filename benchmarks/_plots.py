"""Quality-against-cost plots with the Pareto front marked."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence


def pareto_front(costs: Sequence[float], values: Sequence[float]) -> list[int]:
    """Indices of the points no other point beats: none has lower-or-equal cost and a higher value
    (or equal value and lower cost). Sorted by cost."""
    order = sorted(range(len(costs)), key=lambda i: (costs[i], -values[i]))
    front, best = [], float("-inf")
    for i in order:
        if values[i] > best:
            front.append(i)
            best = values[i]
    return front


def plot_panels(panels: dict[str, list[dict]], cost: str, value: str, xlabel: str, ylabel: str, path: Path,
                log_x: bool = True) -> None:
    """One panel per key of ``panels``; a line per method through its points, the Pareto front in black.

    Parameters
    ----------
    panels : dict of panel title -> list of points
        Each point is a dict with ``"method"``, ``cost`` and ``value`` keys.
    cost, value : str
        Keys of the x and y coordinates.
    xlabel, ylabel : str
    path : Path
        PNG file to write (parent folders are created).
    log_x : bool, default True
        Logarithmic x axis.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import ticker

    columns = min(4, len(panels))
    rows = -(-len(panels) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.4 * rows), squeeze=False)
    methods = sorted({p["method"] for points in panels.values() for p in points})
    colours = {m: plt.get_cmap("tab10")(i % 10) for i, m in enumerate(methods)}
    for ax, (title, points) in zip(axes.flat, panels.items()):
        for m in methods:
            mine = sorted((p for p in points if p["method"] == m), key=lambda p: p[cost])
            if mine:
                ax.plot([p[cost] for p in mine], [p[value] for p in mine], "o-", ms=3, lw=1, color=colours[m],
                        label=m)
        front = [points[i] for i in pareto_front([p[cost] for p in points], [p[value] for p in points])]
        ax.plot([p[cost] for p in front], [p[value] for p in front], "s--", ms=7, mfc="none", color="black",
                lw=0.8, label="Pareto front")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel(xlabel, fontsize=8)
        ax.set_ylabel(ylabel, fontsize=8)
        if log_x:
            ax.set_xscale("log")
            ax.xaxis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
            ax.xaxis.set_major_formatter(ticker.FormatStrFormatter("%g"))
            ax.xaxis.set_minor_formatter(ticker.NullFormatter())
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(6, len(labels)), fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, 0.06 + 0.02 * (len(labels) > 6), 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
