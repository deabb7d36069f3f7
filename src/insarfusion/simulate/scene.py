"""Where the simulated case lies: the scene, its landslides, land cover, terrain and stations.

A 1.5 × 1.5 km tile of slope around lon −79.00, lat −2.92 (working CRS EPSG:32717) holds two
rotational landslides (:data:`LANDSLIDES`), urban blocks and a highway (:func:`land_cover`), a
terrain surface (:func:`terrain_height`) and the 11 GNSS stations (:data:`STATIONS`).
:class:`SceneGeometry` places the tile, or ``scale`` tiles of it, in the working CRS. Distances
are metres; tile-local coordinates are relative to the centre of the tile holding a point.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..crs import lonlat_to_xy
from ..errors import InputError
from ..grid import DEFAULT_CELL_SIZE

#: Working CRS of the case (WGS 84 / UTM zone 17S).
CRS = "EPSG:32717"
#: Centre of the scene (WGS84 degrees).
CENTRE_LON, CENTRE_LAT = -79.00, -2.92
#: Side of one tile of the landslide pattern (m); a scale-1 scene is one tile.
TILE_SIZE = 1500.0

#: Land-cover codes: grass and crops on the cleared landslide bodies, buildings, the highway,
#: and woodland on the stable ground around (C-band decorrelates there).
VEGETATION, URBAN, HIGHWAY, FOREST = 0, 1, 2, 3
LAND_COVER_NAMES = {VEGETATION: "vegetation", URBAN: "urban", HIGHWAY: "highway",
                    FOREST: "forest"}

#: Urban blocks (tile-local metres: xmin, xmax, ymin, ymax): campus on the western landslide,
#: the town over the toes, buildings on the eastern crown, and a few scattered houses.
URBAN_BLOCKS = (
    (-420.0, -200.0, -130.0, 90.0),    # campus
    (-150.0, 520.0, -20.0, 330.0),     # town over the lower bodies and the toes
    (200.0, 470.0, -560.0, -380.0),    # buildings on the eastern crown
    (-715.0, -595.0, 575.0, 695.0),    # houses around M21 (stable)
    (590.0, 710.0, 590.0, 710.0),      # houses around M01 (stable)
)
#: The highway crosses the scene from west to east: y = offset + slope * x, half-width (m).
HIGHWAY_LINE = (60.0, 0.10, 15.0)

#: GNSS stations: name -> (tile-local x, y in m, role). Roles "reference" and "validation".
#: Placed so that their true LOS rates resemble the paper's Table 4 (M09 −6 … M23 −10 mm/yr);
#: M17, M19, M20 and M22 stand on grass or woodland more than 80 m from any building, so CSK
#: has no scatterer near them.
STATIONS = {
    "M01": (640.0, 640.0, "reference"),
    "M21": (-655.0, 635.0, "reference"),
    "M09": (-70.0, 280.0, "validation"),
    "M10": (-120.0, 40.0, "validation"),
    "M15": (-405.0, -115.0, "validation"),
    "M17": (-610.0, 400.0, "validation"),
    "M18": (490.0, 160.0, "validation"),
    "M19": (-540.0, -650.0, "validation"),
    "M20": (640.0, -580.0, "validation"),
    "M22": (670.0, -100.0, "validation"),
    "M23": (420.0, -410.0, "validation"),
}


@dataclass(frozen=True)
class Landslide:
    """A rotational slide: a rounded-rectangle body (tile-local metres) moving as a block.

    The outline is the superellipse ``|du/half_x|^4 + |dv/half_y|^4 = 1`` around ``centre``.
    Horizontal motion is along ``azimuth`` (degrees clockwise from north) at ``speed`` (mm/yr)
    over the body and tapers to zero over its outer margin. Along the motion, ``s`` runs from
    −1 at the crown to +1 at the toe (``reach`` metres from the centre): the crown subsides
    (peak ``crown_sink * speed``) and the toe bulges (peak ``toe_rise * speed``, centred at
    ``s = toe_at``). The annual
    term has amplitude ``seasonal_mm`` (mm) over the body.
    """

    name: str
    centre: tuple[float, float]
    half_x: float
    half_y: float
    azimuth: float
    reach: float
    speed: float
    crown_sink: float
    toe_rise: float
    seasonal_mm: float
    toe_at: float = 0.8

    #: Width of the marginal taper, as a fraction of the normalised radius.
    EDGE = 0.2
    #: Exponent of the superellipse outline.
    SHAPE = 6.0

    def radius(self, u, v):
        """Normalised radius: < 1 inside the body."""
        du = (u - self.centre[0]) / self.half_x
        dv = (v - self.centre[1]) / self.half_y
        return (np.abs(du) ** self.SHAPE + np.abs(dv) ** self.SHAPE) ** (1.0 / self.SHAPE)

    def along(self, u, v):
        """``s``: −1 at the crown, +1 at the toe, along the direction of motion."""
        az = np.deg2rad(self.azimuth)
        return ((u - self.centre[0]) * np.sin(az) + (v - self.centre[1]) * np.cos(az)) \
            / self.reach

    def inside(self, u, v):
        """True where tile-local (u, v) (m) lie inside the body's outline."""
        return self.radius(u, v) < 1.0

    def unit_field(self, u, v):
        """East, north, up displacement pattern per unit of ``speed`` (dimensionless)."""
        taper = _smoothstep((1.0 - self.radius(u, v)) / self.EDGE)
        s = self.along(u, v)
        az = np.deg2rad(self.azimuth)
        up = taper * (self.toe_rise * _bump(s, self.toe_at, 0.28)
                      - self.crown_sink * _bump(s, -0.7, 0.45))
        return np.stack([taper * np.sin(az), taper * np.cos(az), up])

    def outline(self, n=241):
        """Tile-local (x, y) of the outline, metres."""
        phi = np.linspace(0, 2 * np.pi, n)
        c, s = np.cos(phi), np.sin(phi)
        p = 2.0 / self.SHAPE
        return (self.centre[0] + self.half_x * np.sign(c) * np.abs(c) ** p,
                self.centre[1] + self.half_y * np.sign(s) * np.abs(s) ** p)


def _smoothstep(z):
    """0 below 0, 1 above 1, ``3z² - 2z³`` between."""
    z = np.clip(z, 0.0, 1.0)
    return z * z * (3.0 - 2.0 * z)


def _bump(s, middle, half_width):
    """Compactly supported bump ``(1 - ((s - middle)/half_width)²)²``, zero outside."""
    return np.clip(1.0 - ((s - middle) / half_width) ** 2, 0.0, None) ** 2


LANDSLIDES = (
    Landslide("west", centre=(-345.0, -100.0), half_x=375.0, half_y=600.0, azimuth=45.0,
              reach=650.0, speed=15.0, crown_sink=0.45, toe_rise=0.6, seasonal_mm=2.5,
              toe_at=0.55),
    Landslide("east", centre=(375.0, -90.0), half_x=335.0, half_y=610.0, azimuth=0.0,
              reach=610.0, speed=25.0, crown_sink=0.5, toe_rise=0.85, seasonal_mm=2.0),
)


@dataclass
class SceneGeometry:
    """Where the scene lies: its centre and extent in the working CRS (metres)."""

    scale: float = 1.0
    centre_x: float = field(init=False)
    centre_y: float = field(init=False)
    side: float = field(init=False)

    def __post_init__(self):
        if not (np.isfinite(self.scale) and self.scale > 0):
            raise InputError(f"scale must be a positive number, got {self.scale!r}")
        cx, cy = lonlat_to_xy(CENTRE_LON, CENTRE_LAT, CRS)
        # centre on a multiple of the output cell so that the central tile sits on the grid
        self.centre_x = float(np.round(cx / DEFAULT_CELL_SIZE) * DEFAULT_CELL_SIZE)
        self.centre_y = float(np.round(cy / DEFAULT_CELL_SIZE) * DEFAULT_CELL_SIZE)
        self.side = TILE_SIZE * float(np.sqrt(self.scale))

    @property
    def extent(self):
        """(xmin, xmax, ymin, ymax), metres."""
        h = self.side / 2
        return (self.centre_x - h, self.centre_x + h, self.centre_y - h, self.centre_y + h)

    @property
    def area_km2(self):
        """Area of the scene, km²."""
        return (self.side / 1000.0) ** 2

    def tile_local(self, x, y):
        """Coordinates relative to the centre of the tile holding each point (m)."""
        h = TILE_SIZE / 2
        u = np.mod(np.asarray(x, float) - self.centre_x + h, TILE_SIZE) - h
        v = np.mod(np.asarray(y, float) - self.centre_y + h, TILE_SIZE) - h
        return u, v

    def fraction_x(self, x):
        """Position across the scene from west (0) to east (1): the range direction."""
        xmin, xmax = self.extent[:2]
        return np.clip((np.asarray(x, float) - xmin) / (xmax - xmin), 0.0, 1.0)

    def station_xy(self):
        """Working-CRS x, y (m) of the stations, in the order of :data:`STATIONS`."""
        local = np.array([v[:2] for v in STATIONS.values()])
        return self.centre_x + local[:, 0], self.centre_y + local[:, 1]


def land_cover(scene: SceneGeometry, x, y):
    """Land-cover code per point (:data:`LAND_COVER_NAMES`).

    Outside the landslide bodies the ground is woodland, inside it grass; urban blocks and the
    highway are drawn over both.
    """
    u, v = scene.tile_local(x, y)
    on_slide = np.zeros(np.shape(u), dtype=bool)
    for slide in LANDSLIDES:
        on_slide |= slide.inside(u, v)
    cover = np.where(on_slide, VEGETATION, FOREST).astype(np.int8)
    for x0, x1, y0, y1 in URBAN_BLOCKS:
        cover[(u >= x0) & (u < x1) & (v >= y0) & (v < y1)] = URBAN
    offset, slope, half = HIGHWAY_LINE
    cover[np.abs(v - (offset + slope * u)) < half] = HIGHWAY
    return cover


def terrain_height(scene: SceneGeometry, x, y):
    """Orthometric height (m): the slope rises southward from the valley floor (~2550 m)."""
    u, v = scene.tile_local(x, y)
    return 2550.0 + 0.16 * (TILE_SIZE / 2 - v) + 12.0 * np.sin(u / 170.0) * np.cos(v / 230.0)

