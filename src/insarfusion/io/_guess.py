"""Guess the format of an input file (or folder of GNSS files) from its name and first lines."""

from __future__ import annotations

import re
import zipfile
import zlib
from pathlib import Path

from ..errors import InputError
from ..log import logger
from ._common import decode_text, looks_like_zip, zip_member

_GNSS_SUFFIXES = {"tenv3": (".tenv3",), "tenv": (".tenv", ".tenv.txt"), "pos": (".pos",)}
_ECEF_RE = re.compile(r"^\s*\d{4}\s+\d{1,2}\s+\d{1,2}(\s+-?\d+(\.\d*)?){6}\s*$")


def _first_lines(path: Path, n=3) -> list[str]:
    """The first ``n`` lines of a file, or of the one CSV member of a zip (checked first)."""
    if looks_like_zip(path):
        try:
            with zipfile.ZipFile(path) as zf:
                info = zip_member(zf, path, (".csv",))
                with zf.open(info) as fh:
                    return [fh.readline(1 << 20).decode("utf-8", "replace") for _ in range(n)]
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, RuntimeError,
                NotImplementedError, ValueError) as exc:
            if isinstance(exc, InputError):
                raise
            raise InputError(f"damaged or truncated zip archive ({' '.join(str(exc).split())})",
                             path) from None
    with open(path, "rb") as fh:
        head = fh.read(1 << 16)
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in head:
        decode_text(head, path)  # raises: UTF-16 or binary
    with open(path, encoding="utf-8", errors="replace") as fh:
        return [fh.readline(1 << 20) for _ in range(n)]


def guess_format(path) -> tuple[str, str]:
    """``(kind, format)`` of a file or folder: kind is ``"points"`` or ``"gnss"``."""
    path = Path(path)
    if not path.exists():
        raise InputError("no such file or folder", path)
    if path.is_dir():
        files = gnss_files(path, None)
        return "gnss", guess_format(files[0])[1]
    name = path.name.lower()
    for fmt, suffixes in _GNSS_SUFFIXES.items():
        if name.endswith(suffixes):
            return "gnss", fmt
    if name.endswith((".h5", ".he5", ".hdf5")):
        return "points", "mintpy"
    if path.stat().st_size == 0:
        raise InputError("file is empty", path)
    lines = _first_lines(path)
    head = lines[0].strip()
    low = head.lower()
    if low.startswith("export_res_"):
        return "points", "stamps"
    if low.startswith("site ") and "__east(m)" in low:
        return "gnss", "tenv3"
    if "pbo station position time series" in low or low.startswith("*yyyymmdd"):
        return "gnss", "pos"
    if low.replace("\t", " ").split()[:6] == ["yyyy", "mm", "dd", "x", "y", "z"] or \
            _ECEF_RE.match(head):
        return "gnss", "ecef"
    words = low.replace("\t", " ").split()
    if words[:4] in (["yyyy", "mm", "dd", "dsp"], ["yyyy1", "mm1", "dd1", "yyyy2"]):
        return "points", "multidefusion"
    cols = [c.strip().lower() for c in re.split(r"[,;\t]", head)]
    if "pid" in cols and ("mean_velocity" in cols or "los_up" in cols or "easting" in cols):
        return "points", "egms"
    if "station" in cols and {"east", "north", "up"} <= set(cols):
        return "gnss", "csv"
    if name.endswith((".csv", ".txt", ".zip")):
        return "points", "csv"
    raise InputError("cannot tell the format; give it with --format (points: csv, egms, "
                     "stamps, mintpy; GNSS: tenv3, tenv, pos, ecef, csv)", path)


def gnss_files(folder, format) -> list[Path]:
    """GNSS files of a folder: those of ``format``, or of any GNSS format when None."""
    folder = Path(folder)
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    if format in _GNSS_SUFFIXES:
        picked = [p for p in files if p.name.lower().endswith(_GNSS_SUFFIXES[format])]
    else:
        picked = []
        for p in files:
            if p.suffix.lower() in {".md", ".json", ".yaml", ".yml", ".png"}:
                continue
            try:
                kind, fmt = guess_format(p)
            except InputError as exc:
                logger.info("%s: not read as a GNSS file (%s)", p, exc.what)
                continue
            if kind == "gnss" and (format is None or fmt == format):
                picked.append(p)
    if not picked:
        raise InputError(f"no {format or 'GNSS'} station files in folder", folder)
    return picked
