"""The report's figures: maps, histograms and station series like the paper's, calibration."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..conventions import FUSED  # noqa: E402
from ..series import linear_rate  # noqa: E402

VELOCITY_CMAP = "RdYlBu"


def _velocity_limits(values) -> tuple[float, float]:
    v = np.concatenate([np.ravel(a) for a in values])
    v = v[np.isfinite(v)]
    lim = float(np.nanpercentile(np.abs(v), 99)) if v.size else 1.0
    return -lim, lim


def _stations(ax, state):
    g = state.inputs.gnss
    if g is None:
        return
    refs = set(state.cfg.gnss.reference) | {state.cfg.gnss.final_reference}
    for s in g["station"].values:
        x, y = float(g["x"].sel(station=s)), float(g["y"].sel(station=s))
        ax.plot(x, y, "^", color="k" if s in refs else "w", mec="k", ms=7)
        ax.annotate(s, (x, y), xytext=(3, 3), textcoords="offset points", fontsize=7)


def fig_velocity_maps(state, path):
    """Velocity of each dataset's points and of the fused product, one colour scale (Figs 6, 7, 9)."""
    names = list(state.datasets)
    vel = state.velocity(FUSED).values
    vlim = _velocity_limits([vel] + [state.datasets[n]["velocity"].values for n in names])
    fig, axes = plt.subplots(1, len(names) + 1, figsize=(5 * (len(names) + 1), 4.6),
                             sharex=True, sharey=True, constrained_layout=True)
    for ax, name in zip(axes, names, strict=False):
        ds = state.datasets[name]
        v = linear_rate(state.epochs, ds["displacement"].values)
        sc = ax.scatter(ds["x"], ds["y"], c=v, s=4, cmap=VELOCITY_CMAP, vmin=vlim[0],
                        vmax=vlim[1])
        ax.set_title(f"{name}: {ds.sizes['point']} points")
        _stations(ax, state)
    g = state.grid
    axes[-1].imshow(vel, extent=_extent(g), origin="upper", cmap=VELOCITY_CMAP,
                    vmin=vlim[0], vmax=vlim[1])
    axes[-1].set_title(f"synergic ({state.cfg.spatial.method})")
    _stations(axes[-1], state)
    for ax in axes:
        _metre_axes(ax)
    axes[0].set_ylabel("y (m)")
    fig.colorbar(sc, ax=axes, label="LOS velocity (mm/yr, + toward satellite)", shrink=0.8)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _metre_axes(ax):
    ax.set_aspect("equal")
    ax.ticklabel_format(style="plain", useOffset=False)
    ax.set_xlabel("x (m)")
    for label in ax.get_xticklabels():
        label.set_rotation(30)
        label.set_horizontalalignment("right")


def _extent(g):
    c = float(g.attrs["cell_size"])
    return (float(g.x[0]) - c / 2, float(g.x[-1]) + c / 2, float(g.y[-1]) - c / 2,
            float(g.y[0]) + c / 2)


def fig_histograms(state, path):
    """Velocity histograms of each dataset and of the fused cells (Figs 8, 10)."""
    series = {n: linear_rate(state.epochs, ds["displacement"].values)
              for n, ds in state.datasets.items()}
    series[FUSED] = state.velocity(FUSED).values.ravel()
    fig, axes = plt.subplots(1, len(series), figsize=(4.2 * len(series), 3.4),
                             constrained_layout=True)
    for ax, (name, v) in zip(axes, series.items(), strict=True):
        v = v[np.isfinite(v)]
        ax.hist(v, bins=np.arange(np.floor(v.min()) - 0.5, np.ceil(v.max()) + 1.5, 1.0),
                color="0.4")
        inside = np.mean((v >= -15) & (v <= 0)) * 100
        ax.set_title(f"{name} (n={v.size}; {inside:.1f}% in −15…0)")
        ax.set_xlabel("LOS velocity (mm/yr)")
    axes[0].set_ylabel("count")
    fig.savefig(path, dpi=110)
    plt.close(fig)


def fig_station_series(state, path):
    """Time series of every method against GNSS at each validation station (Figs 12, 13)."""
    stations = state.validation.get("stations", [])
    if not stations:
        return False
    t = state.epochs.astype("datetime64[D]")
    gnss = state.gnss_series
    fig, axes = _station_axes(stations, t, gnss, row_height=2.8)
    for i, ax in enumerate(axes.flat[:len(stations)]):
        gm = np.nanmean(gnss[i])
        for name, ser in state.station_series.items():
            if not np.isfinite(ser[i]).any():  # a dataset not covering the station
                continue
            d = ser[i] - np.nanmean(ser[i] - gnss[i]) - gm
            ax.plot(t, d, lw=1.4 if name == FUSED else 0.9, label=name)
    axes.flat[0].legend(fontsize=7, ncol=2)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def _station_axes(stations, t, gnss, row_height):
    """A figure of one panel per station, three a row, each with the GNSS series (mm).

    The GNSS series (``gnss``, station × epoch, LOS) is drawn less its mean; a method's series
    drawn on a panel is aligned to it by its mean difference.
    """
    n = len(stations)
    ncol = 3
    nrow = int(np.ceil(n / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(5 * ncol, row_height * nrow), sharex=True,
                             constrained_layout=True, squeeze=False)
    for i, s in enumerate(stations):
        ax = axes.flat[i]
        ax.plot(t, gnss[i] - np.nanmean(gnss[i]), "k.", ms=3, label="GNSS (LOS)")
        ax.set_title(s)
        ax.set_ylabel("mm")
        locator = mdates.AutoDateLocator()
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    for ax in axes.flat[n:]:
        ax.axis("off")
    return fig, axes


def fig_station_series_aps(state, path, method=FUSED):
    """A product's series at each station with and without the APS filter, against GNSS."""
    stations = state.validation.get("stations", [])
    unfiltered = state.station_series_unfiltered.get(method)
    if not stations or unfiltered is None:
        return False
    t = state.epochs.astype("datetime64[D]")
    gnss, filtered = state.gnss_series, state.station_series[method]
    fig, axes = _station_axes(stations, t, gnss, row_height=2.6)
    for i, ax in enumerate(axes.flat[:len(stations)]):
        gm = np.nanmean(gnss[i])
        for label, ser, style in (("without the APS filter", unfiltered[i], "0.6"),
                                  ("with the APS filter", filtered[i], "C3")):
            ax.plot(t, ser - np.nanmean(ser - gnss[i]) - gm, color=style, lw=1.0, label=label)
    axes.flat[0].legend(fontsize=7)
    fig.suptitle(f"{method}: station series with and without the APS filter")
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def fig_uncertainty(state, path):
    """Map of the fused product's std averaged over the epochs (mm); False without a std."""
    std = state.product_std.get(FUSED)
    if std is None:
        return False
    arr = std.mean("time") if "time" in std.dims else std
    fig, ax = plt.subplots(figsize=(5.5, 4.6), constrained_layout=True)
    im = ax.imshow(np.asarray(arr), extent=_extent(state.grid), origin="upper", cmap="magma_r")
    _stations(ax, state)
    _metre_axes(ax)
    ax.set_title("synergic: mean per-epoch standard deviation (calibrated)")
    fig.colorbar(im, ax=ax, label="mm")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def fig_calibration(validation: dict, path) -> bool:
    """Coverage curves: nominal against observed share within k std, per calibrated method.

    Held-out values (after calibration) and, where there is a truth, the products against
    it; displacement and velocity side by side. False without a calibration.
    """
    from scipy.stats import norm

    cal = validation.get("calibration", {})
    if not cal.get("methods"):
        return False
    ks = np.asarray(cal["curve_k"], float)
    nominal = 100 * (2 * norm.cdf(ks) - 1)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.4), constrained_layout=True)
    for ax, what in zip(axes, ("displacement", "velocity"), strict=True):
        ax.plot([0, 100], [0, 100], color="0.6", lw=1, label="ideal")
        for i, (name, c) in enumerate(cal["methods"].items()):
            colour = f"C{i}"
            held = c.get(f"heldout_{what}", {}).get("within_k")
            if held:
                ax.plot(nominal, 100 * np.asarray(held, float), "o--", color=colour,
                        label=f"{name}, held out")
            truth = validation.get("truth", {}).get(name, {})
            for prefix, style, label in (("", "s-", "truth"), ("raw_", "x:", "truth, raw std")):
                curve = truth.get(f"{prefix}{what}_within_k")
                if curve:
                    ax.plot(nominal, 100 * np.asarray(curve, float), style, color=colour,
                            label=f"{name}, {label}")
        ax.set_xlabel("nominal coverage (%) of ±k std, k = " + ", ".join(f"{k:g}" for k in ks))
        ax.set_ylabel("observed coverage (%)")
        ax.set_title(f"{what}: calibrated std")
        ax.set_xlim(0, 100)
        ax.set_ylim(0, 100)
        ax.legend(fontsize=7)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def fig_differences(state, path):
    """Velocity difference maps between the fused product and each baseline."""
    others = [m for m in state.products if m != FUSED]
    if not others:
        return False
    vel = {m: state.velocity(m).values for m in state.products}
    diffs = {m: vel[FUSED] - vel[m] for m in others}
    lim = max(_velocity_limits(list(diffs.values()))[1], 0.5)
    fig, axes = plt.subplots(1, len(others), figsize=(5 * len(others), 4.4),
                             constrained_layout=True, squeeze=False)
    for ax, m in zip(axes[0], others, strict=True):
        im = ax.imshow(diffs[m], extent=_extent(state.grid), origin="upper", cmap="PuOr",
                       vmin=-lim, vmax=lim)
        ax.set_title(f"synergic − {m}")
        _stations(ax, state)
        _metre_axes(ax)
    fig.colorbar(im, ax=axes, label="velocity difference (mm/yr)", shrink=0.8)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


