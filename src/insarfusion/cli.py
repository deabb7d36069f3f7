"""The ``insarfusion`` command line: a thin layer over the compute modules.

Errors in the input are reported as one line (file, row/column, what is wrong) with exit code 2;
an unexpected failure as one line with exit code 1 (``--debug`` shows the traceback); a run
stopped by SIGINT, SIGTERM or SIGHUP exits with 128 + the signal number after removing its
unfinished output.
"""

from __future__ import annotations

import errno
import os
import sys
from pathlib import Path

import numpy as np
import typer

from .cli_console import HeldConsole, signals_interrupt
from .errors import InsarfusionError, Interrupted
from .log import setup_logging

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    help="Fuse PSI + SBAS InSAR and GNSS into one LOS displacement time series "
         "(Khalili et al. 2024), and validate it. The options -v, -q and --debug may also "
         "follow the command.",
)

_state = {"debug": False}


#: Options of the command line as a whole, accepted after the subcommand too.
GLOBAL_FLAGS = ("-v", "--verbose", "-q", "--quiet", "--debug")


def _show_version(value: bool) -> None:
    if value:
        from . import __version__

        typer.echo(f"insarfusion {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="More log output."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Warnings and errors only."),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks of unexpected errors."),
    version: bool = typer.Option(False, "--version", callback=_show_version, is_eager=True,
                                 help="Print the version and exit."),
):
    import logging

    from .log import logger

    _state["debug"] = debug
    setup_logging(verbose and not quiet)
    if quiet:
        for handler in logger.handlers:
            if not isinstance(handler, logging.FileHandler):
                handler.setLevel(logging.WARNING)
    held = _state.get("held")
    if held is not None:
        held.hook()


def hoist_global_flags(argv: list[str]) -> list[str]:
    """Move :data:`GLOBAL_FLAGS` given after the subcommand to before it.

    ``insarfusion run cfg.yaml -v`` then means ``insarfusion -v run cfg.yaml``; nothing after
    ``--`` is moved.
    """
    argv = [str(a) for a in argv]
    command = next((i for i, a in enumerate(argv) if not a.startswith("-")), None)
    if command is None:
        return argv
    end = argv.index("--") if "--" in argv else len(argv)
    moved = [a for a in argv[command + 1:end] if a in GLOBAL_FLAGS]
    rest = [a for a in argv[command + 1:end] if a not in GLOBAL_FLAGS]
    return argv[:command] + moved + [argv[command]] + rest + argv[end:]


@app.command()
def inspect(
    path: Path = typer.Argument(..., help="An input file or a folder of GNSS files."),
    format: str = typer.Option(None, "--format", "-f",
                               help="csv, egms, stamps, mintpy (points); tenv3, tenv, pos, "
                                    "ecef, csv (GNSS). Guessed when not given."),
):
    """Print a summary of any supported input: points or stations, epochs, date span."""
    from .io import INSPECT_ATTRS, inspect_file

    info = inspect_file(path, format)
    count = f"{info['points']} points" if "points" in info else f"{info['stations']} stations"
    typer.echo(f"{info['path']}")
    typer.echo(f"  format:  {info['format']} ({'InSAR points' if info['kind'] == 'points' else 'GNSS'})")
    typer.echo(f"  size:    {count}, {info['epochs']} epochs")
    typer.echo(f"  span:    {info['start']} .. {info['end']}")
    typer.echo(f"  lon/lat: {info['lon'][0]:.5f} .. {info['lon'][1]:.5f} / "
               f"{info['lat'][0]:.5f} .. {info['lat'][1]:.5f}")
    typer.echo(f"  crs:     {info['crs']}")
    for key in INSPECT_ATTRS:
        if key in info:
            typer.echo(f"  {key}: {info[key]}")


def _threads_option(value):
    """``--threads`` parsed: None, ``auto`` or a positive number; a one-line error otherwise."""
    if value is None or value == "auto":
        return value
    if not value.isdigit() or int(value) < 1:
        raise typer.BadParameter(f"{value!r} is neither a positive number nor 'auto'",
                                 param_hint="'--threads'")
    return int(value)


#: ``--threads`` of the commands that train the networks (``run``, ``demo``).
THREADS_OPTION = typer.Option(
    None, "--threads", callback=_threads_option,
    help="Most CPU threads the networks (LSTM, CNN) use: a number, or 'auto' for the cores "
    "other processes leave idle when each step starts (faster on a busy machine; the products "
    "then depend on its load). Default: the cores, at most 4.")


@app.command()
def run(
    config: Path = typer.Argument(..., help="The run's YAML configuration."),
    out: Path = typer.Option(None, "--out", "-o", help="Output folder (default: beside the "
                                                       "config, named after it)."),
    force: bool = typer.Option(False, "--force", help="Replace an output folder an earlier run "
                               "wrote (never one holding the config or inputs)."),
    dask_scheduler: str = typer.Option(
        None, "--dask-scheduler", help="Run the chunked steps (temporal resampling, gridding, "
        "CNN inference) on the workers of this running Dask scheduler, e.g. tcp://host:8786."),
    workers: int = typer.Option(
        None, "--workers", min=1, help="Run the chunked steps on a local Dask cluster of this "
        "many worker processes."),
    threads: str = THREADS_OPTION,
):
    """Run the whole pipeline on the data a configuration names and write the products."""
    from .config import load_config
    from .torchutil import set_thread_limit

    set_thread_limit(threads)

    cfg = load_config(config)
    out = out if out is not None else config.parent / f"{config.stem}_results"
    _check_output(cfg, config, out, force)
    _check_truth(cfg.truth)
    _run_and_report(cfg, out, force, dask_scheduler=dask_scheduler, workers=workers)


def _check_truth(path) -> None:
    """Refuse, before any work, a ``truth`` file that cannot be opened as NetCDF."""
    if path is None:
        return
    from .errors import ConfigError

    if not Path(path).is_file():
        raise ConfigError("truth file named in the config does not exist", path, "key 'truth'")
    import xarray as xr

    try:
        with xr.open_dataset(path) as ds:
            names = set(ds.variables)
    except Exception as exc:  # noqa: BLE001 - every backend fails in its own way
        reason = " ".join(str(exc).split())[:120] or type(exc).__name__
        raise ConfigError(f"cannot read the truth file: not NetCDF, or damaged ({reason})",
                          path, "key 'truth'") from None
    if "displacement" not in names:
        raise ConfigError("the truth file has no 'displacement' variable", path, "key 'truth'")


def _check_output(cfg, config: Path, out: Path, force: bool) -> None:
    """Refuse, before any work, an output folder the run may not write.

    ``--force`` replaces only a folder an earlier run wrote, and never one that is or holds
    the run's config or inputs (:func:`insarfusion.products.check_output_target`).
    """
    from .products import check_output_target

    protect = [config, *(d.path for d in cfg.datasets)]
    if cfg.gnss is not None:
        protect.append(cfg.gnss.path)
    protect.append(cfg.truth)
    compare = cfg.decomposition.compare if cfg.decomposition is not None else None
    if compare is not None:
        protect += [compare.east, compare.up]
    check_output_target(out, force, protect)


def _run_and_report(cfg, out: Path, force: bool, dask_scheduler=None, workers=None) -> None:
    from .parallel import dask_client
    from .pipeline import run as run_pipeline

    with dask_client(dask_scheduler, workers) as client:
        validation = run_pipeline(cfg, out, force=force, client=client)
    typer.echo(headline(validation))
    _print_products(out)


def _print_products(out: Path) -> None:
    """Where every product is and how to open it."""
    from .products.guide import product_lines

    typer.echo(f"\nproducts in {out}:")
    for line in product_lines(out):
        typer.echo(f"  {line}")
    typer.echo(f"a place's series of every product: insarfusion series {out} --lon LON "
               "--lat LAT [--csv FILE]")


def headline(validation: dict) -> str:
    """The Table 4/6/7 analogues and the truth RMSE per method, as plain text."""
    lines = []
    methods = validation.get("methods", {})
    if methods:
        lines.append(f"{'method':<12}{'velocity RMSE':>15}{'series RMSE':>13}{'corr %':>9}"
                     f"{'truth RMSE':>12}")
        truth = validation.get("truth", {})
        for name, m in methods.items():
            t = truth.get(name, {}).get("field_rmse_mm")
            lines.append(f"{name:<12}{_fmt(m['velocity_rmse_mm_yr'], 'mm/yr'):>15}"
                         f"{_fmt(m['timeseries_rmse_mm_mean'], 'mm'):>13}"
                         f"{_fmt(m['cross_correlation_mean'], ''):>9}{_fmt(t, 'mm'):>12}")
        for name, m in methods.items():
            if m.get("not_covered"):
                lines.append(f"{name}: not scored at {', '.join(m['not_covered'])} (no point "
                             "within gnss.radius_m); its scores and the improvement over it "
                             "are over the other stations")
        for key, value in validation.get("improvement_pct", {}).items():
            lines.append(f"improvement {key}: {value:+.1f} %")
    loso = validation.get("leave_one_station_out", {}).get("methods", {})
    if loso:
        lines.append("leave one station out (velocity RMSE, mean series RMSE):")
        for name, m in loso.items():
            lines.append(f"  {name:<10}{_fmt(m['velocity_rmse_mm_yr'], 'mm/yr'):>13}"
                         f"{_fmt(m['timeseries_rmse_mm_mean'], 'mm'):>10}")
    held = validation.get("holdout_blocks", {})
    if held:
        lines.append("held-out spatial blocks of input points (RMSE, share predicted):")
        for name, h in sorted(held.items(), key=lambda kv: kv[1]["rmse_mm"] or np.inf):
            line = f"  {name:<10}{_fmt(h['rmse_mm'], 'mm'):>10}  {100 * h['coverage']:.0f} %"
            same = h.get("same_folds_rmse_mm")
            if same:  # scored on fewer folds: the others on those folds beside it
                line += (f"  ({h['folds_scored']} of {h['folds']} folds; there "
                         + ", ".join(f"{m} {_fmt(v, 'mm')}" for m, v in same.items()) + ")")
            lines.append(line)
    return "\n".join(lines)


def _fmt(v, unit):
    return "-" if v is None else f"{v:.2f} {unit}".strip()


#: ``--out`` of the commands that read a config: beside it by default.
_OUT_BESIDE_CONFIG = typer.Option(None, "--out", "-o", help="Output folder (default: beside "
                                  "the config, named after it).")
#: ``--force`` of those commands.
_FORCE_OVERWRITE = typer.Option(False, "--force", help="Overwrite an existing output folder.")


def _config_and_output(config: Path, out, suffix: str, force: bool):
    """The loaded config and the checked output folder (default ``<config stem>_<suffix>``)."""
    from .config import load_config

    cfg = load_config(config)
    out = out if out is not None else config.parent / f"{config.stem}_{suffix}"
    _check_output(cfg, config, out, force)
    return cfg, out


@app.command()
def decompose(
    config: Path = typer.Argument(..., help="A YAML configuration naming two or more LOS "
                                            "datasets (e.g. ascending and descending)."),
    out: Path = _OUT_BESIDE_CONFIG,
    force: bool = _FORCE_OVERWRITE,
):
    """Decompose the datasets' lines of sight into east and up on a grid.

    East and up series and velocities (north neglected), compared with the east/up products
    the config's 'decomposition.compare' section names.
    """
    from .tools.decompose import run_decomposition

    cfg, out = _config_and_output(config, out, "decomposition", force)
    summary = run_decomposition(cfg, out, force=force)
    typer.echo(f"{summary['cells']} cells decomposed ({summary['cell_size_m']:g} m, "
               f"{summary['epochs']['count']} epochs {summary['epochs']['start']}.."
               f"{summary['epochs']['end']})")
    for comp, c in summary.get("comparison", {}).items():
        typer.echo(f"{comp:<5} vs {c['product']}: {c['cells']} cells, velocity RMSE "
                   f"{_fmt(c['velocity_rmse_mm_yr'], 'mm/yr')} (bias "
                   f"{_fmt(c['velocity_bias_mm_yr'], 'mm/yr')}), series RMSE "
                   f"{_fmt(c['series_rmse_mm'], 'mm')}")
    typer.echo(f"products: {out}")


@app.command(name="compare-gnss")
def compare_gnss(
    config: Path = typer.Argument(..., help="A YAML configuration with InSAR datasets and a "
                                            "'gnss' section (the station to compare with)."),
    out: Path = _OUT_BESIDE_CONFIG,
    force: bool = _FORCE_OVERWRITE,
):
    """Compare every dataset's LOS series with the GNSS station projected on its LOS.

    The station is projected with paper eq. 2 over the overlap, and the LOS geometry the GNSS
    fits best is found.
    """
    from .tools.gnss_compare import run_gnss_comparison

    cfg, out = _config_and_output(config, out, "gnss", force)
    result = run_gnss_comparison(cfg, out, force=force)
    typer.echo(f"station {result['station']} ({result['lon']}, {result['lat']})")
    typer.echo(f"{'dataset':<16}{'inc/head':>13}{'epochs':>7}  {'overlap':<23}{'RMSE':>9}"
               f"{'corr %':>8}{'v InSAR':>9}{'v GNSS':>8}  best geometry")
    for name, d in result["datasets"].items():
        if "own" not in d:
            typer.echo(f"{name:<16}  {d.get('error', 'no overlap')}")
            continue
        s = d["own"]
        typer.echo(f"{name:<16}{s['incidence']:>6.1f}/{s['heading']:>6.1f}{s['epochs']:>7}  "
                   f"{s['start'] + '..' + s['end']:<23}{_fmt(s['rmse_mm'], 'mm'):>9}"
                   f"{_fmt(s['correlation_pct'], ''):>8}{s['velocity_insar_mm_yr']:>9.1f}"
                   f"{s['velocity_gnss_mm_yr']:>8.1f}  {d['best_geometry']}")
    pairs = result.get("pairs", {})
    if pairs:
        typer.echo("opposite-pass pairs decomposed at the station (GNSS north removed), "
                   "rates in mm/yr InSAR / GNSS:")
        for pair, p in pairs.items():
            cells = []
            for label in ("as given", "headings + 180"):
                e, u = p[label]["east"], p[label]["up"]
                cells.append(f"{label}: east {e['insar_mm_yr']:.1f} / {e['gnss_mm_yr']:.1f}, "
                             f"up {u['insar_mm_yr']:.1f} / {u['gnss_mm_yr']:.1f}")
            typer.echo(f"  {pair} ({p['epochs']} epochs): " + "; ".join(cells))
    typer.echo(f"details: {out / 'gnss_comparison.json'} (RMSE in mm after removing the mean "
               "difference; velocities in mm/yr over the overlap)")


@app.command()
def simulate(
    out: Path = typer.Argument(..., help="Folder to write the simulated case into."),
    seed: int = typer.Option(0, "--seed", help="Random seed (same seed, same files)."),
    scale: float = typer.Option(1.0, "--scale", help="Multiply area and points by this factor."),
    force: bool = typer.Option(False, "--force", help="Replace a simulated case written "
                               "earlier (never another folder)."),
):
    """Write a simulated Cuenca-like case (inputs, config.yaml and the truth)."""
    from .simulate import write_case

    _check_case_folder(out, force)
    info = write_case(out, seed=seed, scale=scale, force=force)
    typer.echo(info)


#: Files every simulated case holds: ``--force`` replaces only a folder that has them.
CASE_FILES = ("config.yaml", "truth.nc")


def _check_case_folder(out: Path, force: bool) -> None:
    """Refuse ``--force`` on a non-empty folder that is not a simulated case.

    A folder written by ``insarfusion simulate`` holds :data:`CASE_FILES`; any other
    non-empty folder (a user's data) is never replaced.
    """
    from .errors import OutputError

    if force and out.is_dir() and any(out.iterdir()) and \
            not all((out / name).is_file() for name in CASE_FILES):
        raise OutputError("folder is not empty and is not a simulated case (no "
                          f"{' or '.join(CASE_FILES)}); --force replaces only a case "
                          "insarfusion wrote: choose another folder", out)


@app.command()
def demo(
    out: Path = typer.Option(Path("demo_out"), "--out", "-o", help="Output folder."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing output folder."),
    threads: str = THREADS_OPTION,
):
    """Simulate the built-in Cuenca-like case (seed 0) and run the whole pipeline on it.

    Writes the case to OUT/case and the products and report to OUT/results. The run uses the
    defaults, the paper's LSTM and CNN with its training budgets (4 to 9 minutes on two idle
    cores of an AVX2 CPU in float32, as early stopping ends the training; about 75 s where the
    CPU computes bfloat16 natively, before the CNN's held-out fold was added);
    ``insarfusion run OUT/case/config.yaml`` repeats it.
    """
    from .config import load_config
    from .simulate import write_case
    from .torchutil import set_thread_limit

    set_thread_limit(threads)
    case = out / "case"
    _check_case_folder(case, force)
    from .products import check_output_target

    check_output_target(out / "results", force)
    typer.echo(write_case(case, seed=0, scale=1.0, force=force))
    _run_and_report(load_config(case / "config.yaml"), out / "results", force)


@app.command()
def view(
    out: Path = typer.Argument(..., help="A run's output folder."),
    page: Path = typer.Option(None, "--out", "-o", help="The page to write (default "
                              "OUT/viewer.html)."),
):
    """Write the self-contained viewer page of a run: maps, stations, click for series."""
    from .tools.viewer import write_viewer

    typer.echo(f"viewer: {write_viewer(out, page)} (open it in a web browser)")


@app.command()
def series(
    out: Path = typer.Argument(..., help="A run's output folder."),
    lon: float = typer.Option(None, "--lon", help="Longitude of the place, degrees (WGS84)."),
    lat: float = typer.Option(None, "--lat", help="Latitude of the place, degrees (WGS84)."),
    x: float = typer.Option(None, "--x", help="Easting in the products' CRS, instead of lon."),
    y: float = typer.Option(None, "--y", help="Northing in the products' CRS, instead of lat."),
    csv: Path = typer.Option(None, "--csv", help="Write the CSV to this file (default: print "
                             "it)."),
    point_radius_m: float = typer.Option(100.0, "--point-radius", help="List a dataset's "
                                         "nearest input point within this distance, metres."),
):
    """Print (or write) every product's LOS displacement series at a place, as CSV (mm)."""
    from .tools.series import series_at, write_series_csv

    frame = series_at(out, lon, lat, x=x, y=y, point_radius_m=point_radius_m)
    text = write_series_csv(frame, csv)
    typer.echo(f"series: {csv}" if csv is not None else text.rstrip("\n"))


@app.command()
def init(
    path: Path = typer.Argument(Path("config.yaml"), help="The configuration to write."),
    force: bool = typer.Option(False, "--force", help="Replace an existing file."),
):
    """Write a configuration template: every key, its default and a one-line help."""
    from .config_template import config_template
    from .errors import OutputError

    if path.exists() and not force:
        raise OutputError("file exists (use --force to replace it)", path)
    path.write_text(config_template(), encoding="utf-8")
    typer.echo(f"configuration template: {path} (set datasets, then: insarfusion run {path})")


def main(argv=None) -> int:
    """Console entry point: run the command, turn every failure into one line and an exit code.

    Parameters
    ----------
    argv : list of str, optional
        The arguments (default ``sys.argv[1:]``).

    Returns
    -------
    int
        0 on success; 2 for bad input, configuration or output folder (one line on stderr
        naming the file, row/column or key); 1 for an unexpected failure; 128 + the signal
        number when interrupted (130 for SIGINT, 143 for SIGTERM, 129 for SIGHUP).
    """
    held = HeldConsole.install()
    _state["held"] = held
    try:
        with signals_interrupt():
            app(args=hoist_global_flags(sys.argv[1:] if argv is None else argv),
                standalone_mode=False)
    except InsarfusionError as exc:
        return _fail(held, f"error: {exc}", 2)
    except Interrupted as exc:
        return _fail(held, f"interrupted by {exc.name}: the run was stopped, its unfinished "
                           "output removed", exc.exit_code)
    except KeyboardInterrupt:
        return _fail(held, "interrupted by SIGINT: the run was stopped, its unfinished output "
                           "removed", 130)
    except SystemExit as exc:
        held.flush_held()
        return int(exc.code or 0)
    except OSError as exc:
        if exc.errno in _DISK_FULL:
            where = exc.filename or "the output"
            return _fail(held, f"error: {where}: {os.strerror(exc.errno).lower()} while "
                               "writing; nothing was kept", 2)
        return _unexpected(held, exc)
    except Exception as exc:  # usage errors and the unexpected
        return _unexpected(held, exc)
    held.flush_held()
    return 0


#: ``errno`` values of a full disk or an exceeded quota.
_DISK_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


def _fail(held, line: str, code: int) -> int:
    """Drop the held log lines and print ``line`` alone on stderr; return ``code``."""
    held.drop_held()
    typer.echo(line, err=True)
    return code


def _unexpected(held, exc: Exception) -> int:
    """A usage error (click's own message) or an unexpected failure as one line."""
    show = getattr(exc, "show", None)
    if callable(show) and hasattr(exc, "exit_code"):  # click/typer usage error
        held.drop_held()
        show()
        return int(exc.exit_code)
    if type(exc).__name__ == "Abort":
        return _fail(held, "aborted", 1)
    if _state["debug"]:
        held.flush_held()
        raise exc
    msg = " ".join(str(exc).split()) or type(exc).__name__
    return _fail(held, f"internal error: {type(exc).__name__}: {msg} (rerun with --debug for "
                       "details)", 1)


if __name__ == "__main__":
    sys.exit(main())
