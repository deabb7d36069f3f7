"""A self-contained interactive page of a run's products (``insarfusion view OUT``).

:func:`write_viewer` writes ``OUT/viewer.html``: one file, no network access (its script and
style are inline, its data embedded as JSON with base64 arrays), that any browser opens from
disk. It shows

* the map of a layer on a canvas: the mean LOS velocity (``velocity.tif``, or the slope of
  ``displacement.nc``), and where present its std (``velocity_std.tif``), the support
  (``support.tif``: distance to the nearest point, points within a radius) and the data mask
  (``data_mask.tif``);
* the GNSS stations (``gnss_los.csv``) as triangles and the input points (``points.gpkg``,
  thinned when many) as dots;
* on a click on a cell, the displacement series of every product at that cell
  (``displacement.nc`` and every ``displacement_<method>.nc``) with the nearest GNSS station
  in the product's LOS, as an inline SVG plot; a click on an input point adds that point's
  own series.

The page honours ``?click=X,Y`` (a place in the products' CRS, metres; it picks an input
point within 4 screen pixels, as a mouse click does) or ``?cell=ROW,COL`` on load, so a
headless browser can check it; and ``?layer=NAME``. Large products are
thinned (every ``k``-th row and column) so that the embedded series stay under
``max_values`` numbers; series are stored as 16-bit integers with a per-product scale.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import InputError
from ..products import field_dates
from .series import GNSS_FILE, POINTS_FILE, product_crs, product_files

#: Raster layers shown when their file exists: file, band, label, units, colour scale.
LAYERS = (
    ("velocity_std.tif", 1, "velocity std", "mm/yr", "sequential"),
    ("support.tif", 1, "distance to nearest point", "m", "sequential"),
    ("support.tif", 2, "points within radius", "count", "sequential"),
    ("data_mask.tif", 1, "data mask (1 near data)", "", "binary"),
)

_INT16_MAX = 32000
_INT16_NAN = -32768


def _b64(array: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(array).tobytes()).decode("ascii")


def _float_layer(values: np.ndarray) -> str:
    """Float32 little-endian base64 of a map (NaN kept)."""
    return _b64(np.asarray(values, dtype="<f4"))


def _int16_series(cube: np.ndarray) -> dict:
    """A cube as int16 base64 with its scale (mm per unit); NaN as -32768."""
    finite = np.isfinite(cube)
    largest = float(np.abs(cube[finite]).max()) if finite.any() else 1.0
    scale = max(largest / _INT16_MAX, 1e-3)
    coded = np.where(finite, np.round(np.where(finite, cube, 0.0) / scale), _INT16_NAN)
    return {"scale": scale, "data": _b64(coded.astype("<i2"))}


def _read_band(path: Path, band: int, shape) -> np.ndarray | None:
    import rasterio

    with rasterio.open(path) as src:
        if (src.height, src.width) != shape or band > src.count:
            return None
        values = src.read(band).astype(float)
        if src.nodata is not None and np.isfinite(src.nodata):
            values[values == src.nodata] = np.nan
    return values


def _velocity(out: Path, thinned: xr.DataArray, shape, thin) -> np.ndarray:
    """``velocity.tif`` thinned, or the slope of the (already thinned) main cube."""
    path = out / "velocity.tif"
    if path.is_file():
        values = _read_band(path, 1, shape)
        if values is not None:
            return values[thin]
    from ..products import velocity_map

    return velocity_map(thinned).values


def _stations(out: Path, epochs) -> list:
    path = out / GNSS_FILE
    if not path.is_file():
        return []
    table = pd.read_csv(path, parse_dates=["date"])
    days = pd.DatetimeIndex(epochs).normalize()
    stations = []
    for name, rows in table.groupby("station", sort=True):
        series = rows.set_index("date")["los_mm"].reindex(days)
        stations.append({"name": str(name), "x": float(rows["x"].iloc[0]),
                         "y": float(rows["y"].iloc[0]),
                         "series": [None if not np.isfinite(v) else round(float(v), 2)
                                    for v in series.to_numpy(float)]})
    return stations


def _points(out: Path, max_values: int) -> dict | None:
    """The input points of ``points.gpkg`` with their per-date series (int16 base64).

    Every ``k``-th point is kept so that the series stay under ``max_values`` values.
    """
    path = out / POINTS_FILE
    if not path.is_file():
        return None
    import pyogrio

    table = pyogrio.read_dataframe(path, layer="points", read_geometry=False)
    fields = field_dates(table.columns)
    if not fields or not {"x", "y"} <= set(table.columns):
        return None
    step = max(1, -(-len(table) * len(fields) // max(int(max_values), 1)))
    table = table.iloc[::step]
    dataset = (table["dataset"].astype(str).to_list() if "dataset" in table
               else ["points"] * len(table))
    names = sorted(set(dataset))
    values = table[[f for f, _ in fields]].to_numpy(float).T       # (date, point)
    return {"dates": [pd.Timestamp(d).strftime("%Y-%m-%d") for _, d in fields],
            "x": [round(float(v), 2) for v in table["x"]],
            "y": [round(float(v), 2) for v in table["y"]],
            "ids": [str(v) for v in (table["id"] if "id" in table else range(len(table)))],
            "datasets": names, "dataset": [names.index(d) for d in dataset],
            "step": step, **_int16_series(values)}


def _load_products(files: dict, stride: int):
    """Cubes (time, y, x) thinned by ``stride``, on the main product's epochs and grid."""
    cubes = {}
    reference = None
    for name, path in files.items():
        with xr.open_dataset(path, decode_coords="all") as ds:
            cube = ds["displacement"].transpose("time", "y", "x")
            if reference is None:
                reference = cube
            elif cube.shape != reference.shape:
                continue
            cubes[name] = cube.isel(y=slice(None, None, stride),
                                    x=slice(None, None, stride)).load()
    return cubes


def _stride(files: dict, max_values: int) -> int:
    with xr.open_dataset(next(iter(files.values()))) as ds:
        nt, ny, nx = ds.sizes["time"], ds.sizes["y"], ds.sizes["x"]
    per_cell = nt * len(files)
    stride = 1
    while per_cell * -(-ny // stride) * -(-nx // stride) > max_values:
        stride += 1
    return stride


def viewer_data(out_dir, max_values=5_000_000, max_point_values=2_000_000) -> dict:
    """The data the page embeds (a JSON-ready dict).

    Parameters
    ----------
    out_dir : path-like
        A run's output folder.
    max_values : int
        Largest number of series values embedded; the grid is thinned to stay below it.
    max_point_values : int
        Largest number of input-point series values embedded; every ``k``-th point is kept.

    Returns
    -------
    dict
        ``grid`` (x0, y0 of the first cell centre, cell size, nx, ny, stride, crs),
        ``dates``, ``layers`` (name, units, scale kind, float32 base64), ``products`` (name,
        int16 base64 and scale), ``stations`` (name, x, y, LOS series on the dates) and
        ``points`` (the input points of ``points.gpkg`` with their own dates, or None).
    """
    out = Path(out_dir)
    files = product_files(out)
    if not files:
        raise InputError("no displacement product (displacement*.nc) in the folder", out)
    stride = _stride(files, int(max_values))
    with xr.open_dataset(next(iter(files.values())), decode_coords="all") as ds:
        crs = product_crs(ds)
        full_shape = (ds.sizes["y"], ds.sizes["x"])
        title = str(ds.attrs.get("title", "fused LOS displacement"))
        meta = {k: str(ds.attrs[k]) for k in ("primary_dataset", "reference_station",
                                               "reference_date", "method", "orbit_direction")
                if k in ds.attrs}
    cubes = _load_products(files, stride)
    main = next(iter(cubes.values()))
    thin = (slice(None, None, stride), slice(None, None, stride))
    layers = [{"name": "velocity", "units": "mm/yr", "kind": "diverging",
               "data": _float_layer(_velocity(out, main, full_shape, thin))}]
    for file, band, label, units, kind in LAYERS:
        path = out / file
        if path.is_file():
            values = _read_band(path, band, full_shape)
            if values is not None:
                layers.append({"name": label, "units": units, "kind": kind,
                               "data": _float_layer(values[thin])})
    x, y = main["x"].values, main["y"].values
    cell = float(x[1] - x[0]) if x.size > 1 else float(y[0] - y[1]) if y.size > 1 else 1.0
    epochs = main["time"].values
    return {
        "title": title, "meta": meta,
        "grid": {"x0": float(x[0]), "y0": float(y[0]), "cell": cell, "nx": int(x.size),
                 "ny": int(y.size), "stride": stride, "crs": crs if len(crs) < 40 else ""},
        "dates": [pd.Timestamp(t).strftime("%Y-%m-%d") for t in epochs],
        "layers": layers,
        "products": [{"name": name, **_int16_series(cube.values)}
                     for name, cube in cubes.items()],
        "stations": _stations(out, epochs),
        "points": _points(out, max_point_values),
    }


def write_viewer(out_dir, path=None, max_values=5_000_000, max_point_values=2_000_000) -> Path:
    """Write the self-contained viewer page of a run's products.

    Parameters
    ----------
    out_dir : path-like
        A run's output folder.
    path : path-like, optional
        Output file; default ``out_dir/viewer.html``.
    max_values, max_point_values : int
        Largest numbers of product and input-point series values embedded (see
        :func:`viewer_data`).

    Returns
    -------
    pathlib.Path
        The page.
    """
    from ..products.output import atomic_file as _atomic_file

    data = viewer_data(out_dir, max_values=max_values, max_point_values=max_point_values)
    target = Path(path) if path is not None else Path(out_dir) / "viewer.html"
    payload = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    html = _PAGE.replace("__TITLE__", data["title"]).replace("__DATA__", payload)
    with _atomic_file(target) as tmp:
        tmp.write_text(html, encoding="utf-8")
    return target


_PAGE = r"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>insarfusion viewer: __TITLE__</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:12px;color:#222}
h1{font-size:18px;margin:0 0 6px}
#meta{color:#555;margin-bottom:8px}
#wrap{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}
#mapbox{position:relative}
canvas{border:1px solid #999;image-rendering:pixelated;cursor:crosshair}
#legend{display:flex;align-items:center;gap:6px;margin-top:4px}
#bar{width:200px;height:12px;border:1px solid #999}
#series{width:580px;flex:0 0 auto}
#series-info{margin-bottom:4px}
.note{color:#777;font-size:12px}
</style></head>
<body>
<h1>__TITLE__</h1>
<div id="meta"></div>
<div><label>Layer <select id="layer"></select></label>
<label id="points-toggle"><input type="checkbox" id="show-points" checked> input points</label>
<span class="note">Click a cell or an input point to plot every product's series (LOS, mm, positive toward the
satellite).</span></div>
<div id="wrap">
<div id="mapbox"><canvas id="map"></canvas>
<div id="legend"><span id="lo"></span><canvas id="bar" width="200" height="12"></canvas>
<span id="hi"></span><span id="units"></span></div></div>
<div id="series"><div id="series-info">No cell selected.</div></div>
</div>
<script id="viewer-data" type="application/json">__DATA__</script>
<script>
"use strict";
const D = JSON.parse(document.getElementById("viewer-data").textContent);
const G = D.grid;
const COLORS = ["#000000", "#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b",
                "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
function bytes(b64) {
  const s = atob(b64); const a = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) a[i] = s.charCodeAt(i);
  return a.buffer;
}
const layers = D.layers.map(l => Object.assign({}, l, {values: new Float32Array(bytes(l.data))}));
const products = D.products.map(p => Object.assign({}, p, {values: new Int16Array(bytes(p.data))}));
const NT = D.dates.length;
const times = D.dates.map(d => Date.parse(d));
const P = D.points;
const pointValues = P ? new Int16Array(bytes(P.data)) : null;
const pointTimes = P ? P.dates.map(d => Date.parse(d)) : [];
const POINT_COLOURS = ["#444444", "#b8860b", "#008b8b", "#8b008b"];
const meta = document.getElementById("meta");
meta.textContent = Object.entries(D.meta).map(([k, v]) => k.replace(/_/g, " ") + ": " + v)
  .concat([G.crs ? "CRS " + G.crs : "", G.stride > 1 ? "thinned every " + G.stride + " cells" : ""])
  .filter(Boolean).join(" | ");
const canvas = document.getElementById("map");
const px = Math.max(1, Math.min(8, Math.floor(640 / Math.max(G.nx, G.ny))));
canvas.width = G.nx * px; canvas.height = G.ny * px;
const ctx = canvas.getContext("2d");
let current = 0, selected = null;

function quantile(values, q) {
  const f = Array.from(values).filter(Number.isFinite).sort((a, b) => a - b);
  if (!f.length) return 0;
  return f[Math.min(f.length - 1, Math.floor(q * (f.length - 1)))];
}
function lerp(a, b, t) { return Math.round(a + (b - a) * t); }
function ramp(stops, t) {
  t = Math.max(0, Math.min(1, t));
  const n = stops.length - 1, i = Math.min(n - 1, Math.floor(t * n)), u = t * n - i;
  const a = stops[i], b = stops[i + 1];
  return [lerp(a[0], b[0], u), lerp(a[1], b[1], u), lerp(a[2], b[2], u)];
}
const DIVERGING = [[33, 102, 172], [146, 197, 222], [247, 247, 247], [244, 165, 130], [178, 24, 43]];
const SEQUENTIAL = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
function scaleOf(layer) {
  if (layer.kind === "diverging") {
    const m = Math.max(Math.abs(quantile(layer.values, 0.02)), Math.abs(quantile(layer.values, 0.98)), 1e-6);
    return {lo: -m, hi: m, stops: DIVERGING};
  }
  if (layer.kind === "binary") return {lo: 0, hi: 1, stops: [[230, 230, 230], [40, 40, 40]]};
  return {lo: quantile(layer.values, 0.02), hi: Math.max(quantile(layer.values, 0.98), quantile(layer.values, 0.02) + 1e-6), stops: SEQUENTIAL};
}
function colour(s, v) {
  return ramp(s.stops, (v - s.lo) / (s.hi - s.lo));
}
function cellXY(row, col) { return [G.x0 + col * G.cell, G.y0 - row * G.cell]; }
function toPixel(x, y) { return [((x - G.x0) / G.cell + 0.5) * px, ((G.y0 - y) / G.cell + 0.5) * px]; }

function draw() {
  const layer = layers[current], s = scaleOf(layer);
  const img = ctx.createImageData(canvas.width, canvas.height);
  for (let r = 0; r < G.ny; r++) for (let c = 0; c < G.nx; c++) {
    const v = layer.values[r * G.nx + c];
    const rgb = Number.isFinite(v) ? colour(s, v) : null;
    for (let dy = 0; dy < px; dy++) for (let dx = 0; dx < px; dx++) {
      const k = 4 * ((r * px + dy) * canvas.width + c * px + dx);
      if (rgb) { img.data[k] = rgb[0]; img.data[k + 1] = rgb[1]; img.data[k + 2] = rgb[2]; img.data[k + 3] = 255; }
    }
  }
  ctx.putImageData(img, 0, 0);
  if (P && document.getElementById("show-points").checked) {
    for (let i = 0; i < P.x.length; i++) {
      const [u, v] = toPixel(P.x[i], P.y[i]);
      ctx.fillStyle = POINT_COLOURS[P.dataset[i] % POINT_COLOURS.length];
      ctx.fillRect(u - 1, v - 1, 2, 2);
    }
  }
  ctx.font = "11px sans-serif";
  for (const st of D.stations) {
    const [u, v] = toPixel(st.x, st.y);
    ctx.beginPath(); ctx.moveTo(u, v - 6); ctx.lineTo(u - 5, v + 4); ctx.lineTo(u + 5, v + 4); ctx.closePath();
    ctx.fillStyle = "#000"; ctx.fill(); ctx.strokeStyle = "#fff"; ctx.stroke();
    ctx.fillText(st.name, u + 6, v - 4);
  }
  if (selected) {
    ctx.strokeStyle = "#000"; ctx.lineWidth = 2;
    ctx.strokeRect(selected[1] * px - 2, selected[0] * px - 2, px + 4, px + 4); ctx.lineWidth = 1;
  }
  const bar = document.getElementById("bar").getContext("2d");
  for (let i = 0; i < 200; i++) { const c = ramp(s.stops, i / 199); bar.fillStyle = "rgb(" + c + ")"; bar.fillRect(i, 0, 1, 12); }
  document.getElementById("lo").textContent = s.lo.toFixed(2);
  document.getElementById("hi").textContent = s.hi.toFixed(2);
  document.getElementById("units").textContent = layer.units;
}

function seriesAt(p, row, col) {
  const out = new Array(NT), cells = G.nx * G.ny;
  for (let t = 0; t < NT; t++) {
    const v = p.values[t * cells + row * G.nx + col];
    out[t] = v === -32768 ? null : v * p.scale;
  }
  return out;
}
function nearestStation(x, y) {
  let best = null, bd = Infinity;
  for (const st of D.stations) { const d = Math.hypot(st.x - x, st.y - y); if (d < bd) { bd = d; best = st; } }
  return best ? {station: best, distance: bd} : null;
}
function svg(tag, attrs, text) {
  const e = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}
function pointSeries(i) {
  const n = P.x.length, out = new Array(P.dates.length);
  for (let t = 0; t < P.dates.length; t++) {
    const v = pointValues[t * n + i];
    out[t] = v === -32768 ? null : v * P.scale;
  }
  return out;
}
function nearestPoint(u, v, radius) {
  if (!P || !document.getElementById("show-points").checked) return -1;
  let best = -1, bd = radius;
  for (let i = 0; i < P.x.length; i++) {
    const [a, b] = toPixel(P.x[i], P.y[i]); const d = Math.hypot(a - u, b - v);
    if (d <= bd) { bd = d; best = i; }
  }
  return best;
}
function plot(row, col, point) {
  selected = [row, col]; draw();
  const [x, y] = cellXY(row, col);
  const lines = products.map((p, i) => ({name: p.name, values: seriesAt(p, row, col), colour: COLORS[i % COLORS.length], kind: "product", times: times}));
  if (point >= 0) lines.push({name: P.datasets[P.dataset[point]] + " point " + P.ids[point], values: pointSeries(point), colour: "#ff00ff", kind: "point", times: pointTimes});
  const near = nearestStation(x, y);
  if (near) lines.push({name: "GNSS " + near.station.name + " (" + Math.round(near.distance) + " m away)", values: near.station.series, colour: "#d62728", kind: "gnss", times: times});
  const all = lines.flatMap(l => l.values).filter(v => v !== null && Number.isFinite(v));
  const box = document.getElementById("series");
  box.querySelectorAll("svg").forEach(e => e.remove());
  const info = document.getElementById("series-info");
  const layerValues = layers.map(l => l.name + " " + (Number.isFinite(l.values[row * G.nx + col]) ? l.values[row * G.nx + col].toFixed(2) : "n/a") + " " + l.units);
  info.textContent = "cell row " + row + ", col " + col + " (x " + x.toFixed(1) + ", y " + y.toFixed(1) + "): " + layerValues.join("; ");
  info.dataset.row = row; info.dataset.col = col;
  if (!all.length) { info.textContent += " (no data here)"; return; }
  const W = 560, H = 320, L = 56, R = 12, T = 12, B = 36;
  let lo = Math.min(...all), hi = Math.max(...all); if (hi - lo < 1e-6) { lo -= 1; hi += 1; }
  const t0 = times[0], t1 = times[NT - 1] > t0 ? times[NT - 1] : t0 + 1;  // the products' span
  const X = t => L + (t - t0) / (t1 - t0) * (W - L - R), Y = v => T + (hi - v) / (hi - lo) * (H - T - B);
  const s = svg("svg", {id: "series-plot", width: W, height: H + 18 * lines.length, viewBox: "0 0 " + W + " " + (H + 18 * lines.length)});
  s.appendChild(svg("rect", {x: L, y: T, width: W - L - R, height: H - T - B, fill: "none", stroke: "#999"}));
  for (let k = 0; k <= 4; k++) {
    const v = lo + (hi - lo) * k / 4;
    s.appendChild(svg("text", {x: L - 4, y: Y(v) + 4, "text-anchor": "end", "font-size": 11}, v.toFixed(1)));
    s.appendChild(svg("line", {x1: L, x2: W - R, y1: Y(v), y2: Y(v), stroke: "#eee"}));
  }
  [[0, "start"], [Math.floor((NT - 1) / 2), "middle"], [NT - 1, "end"]].forEach(([i, anchor]) => s.appendChild(svg("text", {x: X(times[i]), y: H - B + 16, "text-anchor": anchor, "font-size": 11}, D.dates[i])));
  s.appendChild(svg("text", {x: 12, y: T + (H - T - B) / 2, transform: "rotate(-90 12 " + (T + (H - T - B) / 2) + ")", "text-anchor": "middle", "font-size": 11}, "LOS displacement (mm)"));
  lines.forEach((l, i) => {
    const pts = l.values.map((v, t) => v === null || !Number.isFinite(v) || l.times[t] < t0 || l.times[t] > t1 ? null : X(l.times[t]).toFixed(1) + "," + Y(v).toFixed(1)).filter(Boolean);
    const attrs = {class: "series", "data-name": l.name, "data-kind": l.kind, fill: "none", stroke: l.colour, "stroke-width": l.kind === "gnss" ? 1 : 1.5, points: pts.join(" ")};
      if (l.kind === "gnss") attrs["stroke-dasharray"] = "4 3";
    if (l.kind === "point") attrs["stroke-dasharray"] = "1 2";
    s.appendChild(svg("polyline", attrs));
    s.appendChild(svg("line", {x1: L, x2: L + 24, y1: H + 9 + 18 * i, y2: H + 9 + 18 * i, stroke: l.colour, "stroke-width": 2}));
    s.appendChild(svg("text", {x: L + 30, y: H + 13 + 18 * i, "font-size": 12}, l.name));
  });
  box.appendChild(s);
}
function clickAt(u, v) {
  const point = nearestPoint(u, v, 4);
  if (point >= 0) [u, v] = toPixel(P.x[point], P.y[point]);
  const col = Math.floor(u / px), row = Math.floor(v / px);
  if (row >= 0 && row < G.ny && col >= 0 && col < G.nx) plot(row, col, point);
}
canvas.addEventListener("click", ev => {
  const rect = canvas.getBoundingClientRect();
  clickAt((ev.clientX - rect.left) * canvas.width / rect.width, (ev.clientY - rect.top) * canvas.height / rect.height);
});
document.getElementById("show-points").addEventListener("change", draw);
if (!P) document.getElementById("points-toggle").style.display = "none";
const select = document.getElementById("layer");
layers.forEach((l, i) => { const o = document.createElement("option"); o.value = i; o.textContent = l.name; select.appendChild(o); });
select.addEventListener("change", () => { current = +select.value; draw(); });
const q = new URLSearchParams(location.search);
if (q.get("layer")) { const i = layers.findIndex(l => l.name === q.get("layer")); if (i >= 0) { current = i; select.value = i; } }
draw();
if (q.get("click")) {
  const [x, y] = q.get("click").split(",").map(Number);
  const [u, v] = toPixel(x, y);
  clickAt(u, v);
} else if (q.get("cell")) {
  const [row, col] = q.get("cell").split(",").map(Number);
  if (row >= 0 && row < G.ny && col >= 0 && col < G.nx) plot(row, col, -1);
}
</script>
</body></html>
"""
