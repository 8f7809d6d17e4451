"""Embedded demo data: a seeded synthetic infrared/visible road-scene dataset with task labels.

The demo set is the default data for the quick start, the tests and the one-command pipeline
(VFN fusion training -> detector / segmentor on fused images -> closed-loop compensation ->
evaluation). It is small (96 + 32 pairs of 320 x 256 by default), renders in a few seconds on
two CPU cores, and is built so that **the choice of fusion changes what a downstream model can
see**.

Scenes
------
A straight road seen from a car (camera height ~1.4 m, horizon at 36-46 % of the height), with
sidewalks, building facades or trees on either side, street lamps, a distant skyline and sky.
Half of the images are daytime (suffix ``D``), half night (suffix ``N``), as in MSRS; the split
into day and night is balanced per split and shuffled by the seed.

What shows where
----------------
======================  ============================  ===================================
thing                   infrared (IR, 8-bit grey)     visible (VIS, 8-bit RGB)
======================  ============================  ===================================
person (warm)           bright (head/skin hottest)    day: clear (clothing darker or
                                                      brighter than the street, a few
                                                      mid-grey or in tree shadow);
                                                      night: reflectance close to what is
                                                      behind, weak light: near invisible
car (warm)              warm body, hot tyres and      day: clear; night: the body blends
                        underbody, cold windows       in; some tail/head lights (glare)
sign (cold)             absent (flat, at ambient      colour + shape (red ring, blue disk,
                        temperature)                  triangle, octagon, square); at night
                                                      lit by retro-reflection
road marking (cold)     absent (paint has the road's  bright paint; at night visible but
                        temperature)                  dimmer away from the headlights
road, sidewalk          smooth, warm asphalt in the   textured asphalt, illumination
                        day, cooler at night          (tree shadows, lamp pools, beams)
buildings, trees, sky   thermal gradient, lit         texture, windows, clouds, lamps
                        windows warm, lamp heads warm
======================  ============================  ===================================

So VIS-only models miss people and cars at night, IR-only models miss signs and markings all
the time, and a good fusion gets both. Further details reward task-aware compensation over a
plain visually guided (average-like) fusion: day pedestrians standing in tree shadow or wearing
clothes close to the background have weak VIS contrast; sign plates whose luminance is close to
their background are told apart mostly by colour/shape; road markings far from the camera at
night are faint; IR-only hot spots (lamp heads, lit windows) are thermal distractors that are
not objects; oncoming headlights glare in VIS. Nuisance: different sensor noise (IR
Gaussian + column fixed-pattern noise, VIS shot/read noise that grows with the night gain), IR
optics blur and a low-frequency thermal gradient, VIS textures and illumination variation
(exposure, sun strength, shadows, lamps, ego headlights). Objects can be small (about 8 px tall
at 320 x 256), partly out of the frame or partly occluded by nearer objects, poles or trees.

Labels
------
* Detection (COCO json), ``DEMO_DET_CLASSES`` with category ids 1 ``person``, 2 ``car``,
  3 ``sign`` (the sign plate, not its pole). A box is the tight box ``[x, y, w, h]`` (pixels,
  top-left origin, ``x + w <= W``) of the object's *visible* pixels; ``area`` is the visible
  pixel count; ``iscrowd`` is 0. An object with fewer than ``MIN_VISIBLE_PIXELS`` visible pixels
  or a box side below ``MIN_BOX_SIDE`` px gets no box (it is still labelled in the masks).
* Semantic segmentation (uint8 class index, no ignore value): ``DEMO_SEG_CLASSES`` =
  0 background, 1 road (asphalt carriageway), 2 marking (paint on the road), 3 person, 4 car,
  5 sign. Sidewalks, curbs, buildings, trees, poles and sky are background.
* Saliency (uint8 0/255): 255 on the foreground objects, i.e. seg classes person, car and sign.

Layout under the output root (default ``data/demo``)::

    ir/<stem>.png                   IR, 8-bit single channel
    vi/<stem>.png                   VIS, 8-bit colour (BGR file as written by cv2)
    Segmentation_labels/<stem>.png  uint8 class ids (MSRS-style folder name)
    saliency/<stem>.png             uint8 0/255
    annotations/{train,val}.json    COCO detection; images carry file_name '<stem>.png',
                                    ir_path, vi_path, seg_path, sal_path (relative to the root),
                                    width, height, is_night
    splits/{train,val}.txt          one stem per line
    meta.json                       parameters, counts, class names, palettes, version

Stems are ``demo_<5-digit index><D|N>``; train takes indices ``0 .. num_train-1`` and val the
next ``num_val``. Every image has its own ``numpy.random.Generator(PCG64)`` seeded from
``(seed, index)``, so the same seed gives byte-identical files (on the same numpy / OpenCV
build) and images do not depend on each other.
"""
import functools
import json
import os
import os.path as osp
import re
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from cldyn_mm.datasets.demo_metainfo import (DEMO_DET_CLASSES, DEMO_DET_PALETTE,
                                             DEMO_SALIENT_SEG_IDS, DEMO_SEG_CLASSES,
                                             DEMO_SEG_PALETTE)

__all__ = [
    'generate_demo_dataset', 'render_demo_sample', 'render_contact_sheet', 'DEMO_DET_CLASSES',
    'DEMO_DET_PALETTE', 'DEMO_SEG_CLASSES', 'DEMO_SEG_PALETTE', 'DEMO_SALIENT_SEG_IDS',
    'DEMO_GENERATOR', 'DEMO_GENERATOR_VERSION'
]

#: Written in meta.json and checked before a folder is reused or replaced: the name of the
#: data format (the module's former path, kept so that existing demo folders stay recognised).
DEMO_GENERATOR = 'cldyn_mm.datasets.demo'
#: Bumped whenever the rendering changes, so that an older demo folder is regenerated.
DEMO_GENERATOR_VERSION = '1.0'

BG, ROAD, MARKING, PERSON, CAR, SIGN = range(6)
_DET_ID = {PERSON: 1, CAR: 2, SIGN: 3}  # seg id -> COCO category id

MIN_VISIBLE_PIXELS = 10
MIN_BOX_SIDE = 3
MIN_SIZE = 64

_SUBDIRS = ('ir', 'vi', 'Segmentation_labels', 'saliency')
_STEM_RE = re.compile(r'^demo_\d{5}[DN]$')
_MARKER = '.cldyn_demo_dataset'


# --------------------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------------------
def _smooth_noise(rng: np.random.Generator, h: int, w: int, cell: float) -> np.ndarray:
    """Low-frequency noise (h, w) float32, roughly N(0, 1), feature size ~``cell`` px."""
    gh = max(2, int(round(h / cell)) + 2)
    gw = max(2, int(round(w / cell)) + 2)
    g = rng.standard_normal((gh, gw)).astype(np.float32)
    return cv2.resize(g, (w, h), interpolation=cv2.INTER_CUBIC)


def _ellipse(cx: float, cy: float, rx: float, ry: float, n: int = 20) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], 1)


def _rect(u0: float, v0: float, u1: float, v1: float) -> np.ndarray:
    return np.array([[u0, v0], [u1, v0], [u1, v1], [u0, v1]], np.float64)


def _quad_segment(u0, v0, u1, v1, w0, w1) -> np.ndarray:
    """A limb: quad from (u0, v0) to (u1, v1) with widths w0 at the start and w1 at the end."""
    d = np.array([u1 - u0, v1 - v0], np.float64)
    n = np.array([-d[1], d[0]]) / (np.hypot(*d) + 1e-9)
    a, b = np.array([u0, v0]), np.array([u1, v1])
    return np.array([a + n * w0 / 2, b + n * w1 / 2, b - n * w1 / 2, a - n * w0 / 2])


@functools.lru_cache(maxsize=4)
def _pixel_grid(w: int, h: int) -> Tuple[np.ndarray, np.ndarray]:
    """Row and column index grids (h, w) float32 (read-only, cached)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    yy.flags.writeable = False
    xx.flags.writeable = False
    return yy, xx


@functools.lru_cache(maxsize=4)
def _vignette(w: int, h: int) -> np.ndarray:
    """Mild radial light fall-off (h, w, 1) float32, 1 at the centre (read-only, cached)."""
    yy, xx = _pixel_grid(w, h)
    v = (1 - 0.25 * (((xx - w / 2) / w)**2 + ((yy - h / 2) / h)**2))[..., None]
    v.flags.writeable = False
    return v


#: Night tone curve (uint8 -> uint8): gamma 1 / 1.15 lifts the shadows a little.
_NIGHT_TONE = np.round(255 * (np.arange(256) / 255)**(1 / 1.15)).astype(np.uint8)


def _masked_set(dst: np.ndarray, value, mask8: np.ndarray, mask: np.ndarray) -> None:
    """``dst[mask] = value`` in place; ``value`` is a scalar, a per-channel vector or an array
    of ``dst``'s shape. OpenCV's masked copy is several times faster than numpy's."""
    if isinstance(value, np.ndarray) and value.shape == dst.shape:
        src = np.ascontiguousarray(value, dtype=dst.dtype)
    else:
        src = np.empty(dst.shape, dst.dtype)
        src[...] = value
    if cv2.copyTo(src, mask8, dst) is not dst:  # OpenCV could not write in place
        np.copyto(dst, src, where=mask if dst.ndim == 2 else mask[..., None])


class _Region:
    """Pixels covered by polygons: a mask (uint8 ``mask8`` and its bool view ``mask``) over
    the bounding box at (``y0``, ``x0``), clipped to the image."""
    __slots__ = ('y0', 'x0', 'mask8', 'mask')

    def __init__(self, y0: int, x0: int, mask8: np.ndarray):
        self.y0, self.x0, self.mask8, self.mask = y0, x0, mask8, mask8.view(bool)

    @property
    def sl(self):
        h, w = self.mask.shape
        return slice(self.y0, self.y0 + h), slice(self.x0, self.x0 + w)


# --------------------------------------------------------------------------------------------
# scene renderer
# --------------------------------------------------------------------------------------------
class _Scene:
    """Renders one IR/VIS pair with its labels.

    World coordinates in metres: X to the right, Z forward, height v up. The pinhole camera is
    at height ``hc`` looking along +Z; image x = vx + f X / Z, y = yh + f (hc - v) / Z.
    Layers (all H x W): ``albedo`` (x3, VIS reflectance 0..1), ``emit`` (x3, VIS light sources),
    ``temp`` (IR radiance 0..1 ~ grey level / 255), ``sem`` (class id), ``inst`` (object id),
    ``ground`` (bool, lit by ground-level light), ``retro`` (retro-reflective gain).
    """

    def __init__(self, w: int, h: int, rng: np.random.Generator, night: bool):
        self.W, self.H, self.rng, self.night = w, h, rng, night
        r = rng
        self.f = w * r.uniform(0.85, 1.0)
        self.hc = r.uniform(1.3, 1.6)
        self.yh = h * r.uniform(0.36, 0.46)
        self.vx = w * (0.5 + r.uniform(-0.12, 0.12))
        self.hw = r.choice([3.5, 3.5, 5.25]) * r.uniform(0.95, 1.1)  # half road width
        self.sw = r.uniform(2.0, 4.0)  # sidewalk width
        self.z_bottom = self.f * self.hc / (h - self.yh)  # depth seen at the bottom row
        self.albedo = np.zeros((h, w, 3), np.float32)
        self.emit = np.zeros((h, w, 3), np.float32)
        self.temp = np.zeros((h, w), np.float32)
        self.sem = np.zeros((h, w), np.uint8)
        self.inst = np.zeros((h, w), np.int32)
        self.ground = np.zeros((h, w), np.uint8)
        self.retro = np.zeros((h, w), np.float32)
        # fine texture: zero mean, unit variance (uniform distribution)
        self.grain = (r.random((h, w), dtype=np.float32) - np.float32(0.5)) * np.float32(12**0.5)
        self.low = _smooth_noise(r, h, w, max(w, h) / 10)
        self.objects: List[dict] = []
        self.lamp_pools: List[tuple] = []
        self.glares: List[tuple] = []
        self.shade_blobs: List[tuple] = []
        # condition-dependent temperatures (IR grey level / 255) and light
        if night:
            self.t_sky, self.t_road = r.uniform(0.03, 0.06), r.uniform(0.13, 0.18)
            self.t_side, self.t_grass = self.t_road + r.uniform(0.0, 0.02), r.uniform(0.10, 0.14)
            self.t_wall, self.t_tree = r.uniform(0.17, 0.23), r.uniform(0.11, 0.15)
            self.t_person, self.t_car = r.uniform(0.62, 0.75), r.uniform(0.36, 0.45)
        else:
            self.t_sky, self.t_road = r.uniform(0.08, 0.12), r.uniform(0.30, 0.38)
            self.t_side, self.t_grass = self.t_road + r.uniform(-0.025, 0.015), r.uniform(0.2, 0.25)
            self.t_wall, self.t_tree = r.uniform(0.26, 0.34), r.uniform(0.18, 0.23)
            self.t_person, self.t_car = r.uniform(0.72, 0.82), r.uniform(0.50, 0.58)
        self.sunny = (not night) and r.random() < 0.6
        self.sun_side = r.choice([-1, 1])  # the side of the street whose facades are sunlit

    # ---- geometry ----------------------------------------------------------------------
    def proj(self, x, v, z):
        z = np.maximum(np.asarray(z, np.float64), 1e-3)
        return (self.vx + self.f * np.asarray(x) / z,
                self.yh + self.f * (self.hc - np.asarray(v)) / z)

    def plane_poly(self, pts_uv: np.ndarray, x: float, z: float) -> np.ndarray:
        """Polygon in a plane facing the camera at (x, z): local (u right, v up) metres."""
        px, py = self.proj(x + pts_uv[:, 0], pts_uv[:, 1], z)
        return np.stack([px, py], 1)

    def side_poly(self, x: float, zv: Sequence[Tuple[float, float]]) -> np.ndarray:
        """Polygon in the plane X = x (facades): points (z, v)."""
        zv = np.asarray(zv, np.float64)
        px, py = self.proj(np.full(len(zv), x), zv[:, 1], zv[:, 0])
        return np.stack([px, py], 1)

    def ground_poly(self, xz: Sequence[Tuple[float, float]]) -> np.ndarray:
        """Polygon on the ground (v = 0): points (x, z)."""
        xz = np.asarray(xz, np.float64)
        px, py = self.proj(xz[:, 0], np.zeros(len(xz)), xz[:, 1])
        return np.stack([px, py], 1)

    def side_quads(self, x: float, z0, z1, v0, v1) -> np.ndarray:
        """Rectangles in the plane X = x, arrays of (z0, z1, v0, v1) -> (N, 4, 2) polygons."""
        z = np.stack([z0, z1, z1, z0], 1)
        v = np.stack([v0, v0, v1, v1], 1)
        px, py = self.proj(x, v, z)
        return np.stack([px, py], 2)

    def ground_quads(self, x0, x1, z0, z1) -> np.ndarray:
        """Rectangles on the ground, arrays of (x0, x1, z0, z1) -> (N, 4, 2) polygons."""
        x0, x1, z0, z1 = np.broadcast_arrays(*(np.atleast_1d(np.asarray(a, np.float64))
                                               for a in (x0, x1, z0, z1)))
        px, py = self.proj(np.stack([x0, x1, x1, x0], 1), 0.0, np.stack([z0, z0, z1, z1], 1))
        return np.stack([px, py], 2)

    def z_of_row(self, y: float) -> float:
        return self.f * self.hc / max(y - self.yh, 1e-3)

    def scale(self, z: float) -> float:
        return self.f / z

    # ---- rasterisation -------------------------------------------------------------------
    def region(self, polys) -> Optional[_Region]:
        """Rasterise polygons (a list of (k, 2) arrays or an (N, k, 2) array, image x/y)."""
        if isinstance(polys, np.ndarray):
            polys = list(polys)
        polys = [p for p in polys if len(p) >= 3]
        if not polys:
            return None
        lens = [len(p) for p in polys]
        allp = np.clip(np.concatenate(polys).astype(np.float64), -4e4, 4e4)
        lo, hi = allp.min(0), allp.max(0)
        x0, y0 = max(int(np.floor(lo[0])), 0), max(int(np.floor(lo[1])), 0)
        x1 = min(int(np.ceil(hi[0])) + 1, self.W)
        y1 = min(int(np.ceil(hi[1])) + 1, self.H)
        if x0 >= x1 or y0 >= y1:
            return None
        m = np.zeros((y1 - y0, x1 - x0), np.uint8)
        q = np.round((allp - np.array([x0, y0], np.float64)) * 16).astype(np.int32)
        start = 0
        for n in lens:  # one call per polygon: a single call would cut overlaps out as holes
            cv2.fillPoly(m, [q[start:start + n]], 1, lineType=cv2.LINE_8, shift=4)
            start += n
        if not m.any():
            return None
        return _Region(y0, x0, m)

    def paint(self,
              reg: Optional[_Region],
              rgb=None,
              temp=None,
              sem=None,
              inst=None,
              ground=None,
              retro=None,
              emit=None,
              tex=0.0,
              ttex=0.0):
        """Paint a region.

        ``rgb``/``emit``: RGB 3-tuple, or a callable ``f(sl) -> (h, w, 3)`` array for the
        region's bounding-box slices ``sl``; ``temp``: float, callable ``f(sl) -> (h, w)`` or
        'ambient' (flat at the mean of what lies beneath: a cold structure at air temperature).
        ``tex``/``ttex``: amplitude of multiplicative VIS grain / additive IR low-freq texture.
        """
        if reg is None:
            return
        sl, m, m8 = reg.sl, reg.mask, reg.mask8
        if rgb is not None:
            if callable(rgb):
                val = rgb(sl)
                if tex:
                    val = val * (1 + tex * self.grain[sl][..., None])
            elif tex:
                val = np.asarray(rgb, np.float32) * (1 + tex * self.grain[sl][..., None])
            else:
                val = np.asarray(rgb, np.float32)
            _masked_set(self.albedo[sl], val, m8, m)
            _masked_set(self.emit[sl], 0, m8, m)
        if emit is not None:
            _masked_set(self.emit[sl], np.asarray(emit, np.float32), m8, m)
        if temp is not None:
            if isinstance(temp, str):  # 'ambient': cold structure at the local temperature
                val = np.float32(self.temp[sl][m].mean())
            else:
                val = temp(sl) if callable(temp) else np.float32(temp)
                if ttex:
                    val = val + ttex * self.low[sl]
            _masked_set(self.temp[sl], val, m8, m)
        for layer, v in ((self.sem, sem), (self.inst, inst), (self.ground, ground), (self.retro,
                                                                                     retro)):
            if v is not None:
                _masked_set(layer[sl], v, m8, m)

    # ---- background ----------------------------------------------------------------------
    def draw_sky(self):
        """Sky: emissive gradient (clouds by day) over the whole image; IR: cold, warmer low."""
        r, H, W = self.rng, self.H, self.W
        yy = np.arange(H, dtype=np.float32)[:, None]
        t = np.clip(yy / max(self.yh, 1), 0, 1)[..., None]  # (H, 1, 1): 0 at top, 1 at horizon
        if self.night:
            top = np.array([0.02, 0.025, 0.05], np.float32) * np.float32(r.uniform(0.7, 1.3))
            hor = np.array([0.10, 0.09, 0.10], np.float32) * np.float32(r.uniform(0.7, 1.4))
        else:
            top = np.array([0.35, 0.55, 0.85], np.float32) * np.float32(r.uniform(0.85, 1.05))
            hor = np.array([0.78, 0.83, 0.88], np.float32) * np.float32(r.uniform(0.9, 1.05))
        self.emit[:] = top * (1 - t) + hor * t
        if not self.night:  # clouds
            c = np.clip(_smooth_noise(r, H, W, W / 5) * 0.6 + r.uniform(-0.5, 0.3), 0, 1)
            c = (c * np.float32(0.7))[..., None]
            self.emit *= 1 - c
            self.emit += np.float32(0.9) * c
        self.temp[:] = self.t_sky + 0.06 * t[..., 0]

    def draw_skyline(self):
        """Distant buildings along the horizon: hazy axis-aligned blocks, a few lit windows."""
        r, H, W = self.rng, self.H, self.W
        x = -5.0
        base = self.yh + 1
        tone = r.uniform(0.5, 0.7)
        t_block = np.float32(self.t_wall * 0.8 + self.t_sky * 0.2)
        ws = max(1.0, W / 220)
        while x < W:
            bw = r.uniform(0.04, 0.14) * W
            bh = r.uniform(0.02, 0.12) * H
            col = np.array([0.55, 0.57, 0.62]) * tone * r.uniform(0.85, 1.1)
            if self.night:
                col = col * 0.3
            y0, y1 = max(int(round(base - bh)), 0), min(int(round(base)), H)
            x0, x1 = max(int(round(x)), 0), min(int(round(x + bw)), W)
            if y0 < y1 and x0 < x1:
                sl = (slice(y0, y1), slice(x0, x1))
                self.albedo[sl] = col * (1 + np.float32(0.03) * self.grain[sl])[..., None]
                self.emit[sl] = 0
                self.temp[sl] = t_block
                self.sem[sl] = BG
                self.ground[sl] = 0
                if self.night and r.random() < 0.5:  # a few lit windows
                    for _ in range(r.integers(1, 5)):
                        wx = int(r.uniform(x0, max(x0, x1 - ws)))
                        wy = int(r.uniform(y0, max(y0, y1 - 0.3 * (y1 - y0))))
                        wsl = (slice(wy, wy + int(np.ceil(0.8 * ws))), slice(wx, wx + int(ws)))
                        self.albedo[wsl] = 0
                        self.emit[wsl] = (0.9, 0.75, 0.45)
            x += bw + r.uniform(-0.02, 0.03) * W

    def draw_side(self, side: int):
        """Buildings or trees/hedge on one side (side = -1 left, +1 right)."""
        r = self.rng
        kind = 'buildings' if r.random() < 0.6 else 'trees'
        xb = side * (self.hw + self.sw + r.uniform(0.5, 3.0))
        if kind == 'buildings':
            z = self.z_bottom * r.uniform(0.5, 1.2)
            builds = []
            while z < 130:
                length = r.uniform(12, 35)
                builds.append((z, z + length, r.uniform(6, 24)))
                z += length + (r.uniform(2, 10) if r.random() < 0.4 else 0.0)
            lit = 0.85 if (self.sunny and side == self.sun_side) else 0.6 if self.sunny else 0.75
            for z1, z2, hb in reversed(builds):  # far to near
                col = np.array(
                    r.choice([[0.75, 0.70, 0.60], [0.6, 0.6, 0.62], [0.55, 0.35, 0.28],
                              [0.8, 0.78, 0.72], [0.45, 0.47, 0.5]]))
                col = col * r.uniform(0.8, 1.05)
                tw = self.t_wall + r.uniform(-0.03, 0.03) + (0.04 if lit > 0.8 else 0.0)
                # front wall facing the camera at z1
                depth = r.uniform(6, 15) * side
                front = self.plane_poly(_rect(0, 0, depth, hb), xb, z1)
                self.paint(self.region([front]), rgb=col * 0.75 * lit, temp=tw - 0.02, tex=0.04)
                face = self.side_poly(xb, [(z1, 0), (z2, 0), (z2, hb), (z1, hb)])
                freg = self.region([face])
                if freg is None:
                    continue
                self.paint(
                    freg,
                    rgb=lambda sl, c=col * lit:
                    (c * (1 + 0.06 * self.low[sl][..., None])).astype(np.float32),
                    temp=tw,
                    tex=0.04,
                    ttex=0.015)
                # window grid
                dz, dv = r.uniform(2.8, 4.0), r.uniform(2.8, 3.4)
                zs = np.arange(z1 + 1.0, z2 - 1.9, dz)
                vs = np.arange(1.2 + r.uniform(0, 1.5), hb - 2.1, dv)
                if not len(zs) or not len(vs):
                    continue
                zg, vg = (a.ravel() for a in np.meshgrid(zs, vs))
                quads = self.side_quads(xb, zg, zg + 1.4, vg, vg + 1.5)
                lit_w = r.random(len(zg)) < (0.3 if self.night else 0.0)
                wcol = np.array([0.25, 0.3, 0.38]) * r.uniform(0.6, 1.2)
                self.paint(
                    self.region(quads[~lit_w]),
                    rgb=wcol,
                    temp=tw - (0.03 if not self.night else 0.0))
                if lit_w.any():
                    self.paint(
                        self.region(quads[lit_w]),
                        rgb=(0, 0, 0),
                        emit=np.array([0.95, 0.8, 0.5]) * r.uniform(0.5, 1.0),
                        temp=tw + r.uniform(0.04, 0.09))
        else:
            # grass strip already there; add a hedge along the sidewalk edge and trees
            xh = side * (self.hw + self.sw + 0.3)
            hh = r.uniform(0.6, 1.3)
            hedge = self.side_poly(xh, [(self.z_bottom * 0.5, 0), (150, 0), (150, hh),
                                        (self.z_bottom * 0.5, hh)])
            self.paint(
                self.region([hedge]), rgb=(0.12, 0.25, 0.08), temp=self.t_tree, tex=0.35, ttex=0.02)
        return kind

    def draw_ground(self):
        """Everything on the ground below the horizon: grass, sidewalks, curbs, road, markings.

        Each pixel is classified from its ground-plane position (|X| at the pixel centre), the
        markings are rasterised as polygons on top, and all layers are filled by class lookup.
        """
        r, H, W = self.rng, self.H, self.W
        y0 = min(max(int(np.floor(self.yh)) + 1, 0), H)
        if y0 >= H:
            return
        hw, sw = self.hw, self.sw
        yy, xx = _pixel_grid(W, H)
        ax = np.abs(xx[y0:] - np.float32(self.vx)) * (np.float32(self.hc) / (yy[y0:] - self.yh))
        # 0 grass, 1 sidewalk, 2 curb, 3 road, 4 white paint, 5 yellow paint
        cls = (ax < hw + sw).astype(np.uint8)
        cls += ax < hw + 0.18
        cls += ax < hw
        cols = [np.array([0.22, 0.30, 0.14]) * r.uniform(0.7, 1.1)]
        cols.append(np.array([0.48, 0.46, 0.44]) * r.uniform(0.8, 1.1))
        cols.append(cols[1] * 1.25)
        cols.append(np.array([0.26, 0.26, 0.27]) * r.uniform(0.75, 1.2))
        cols.append(np.array([0.85, 0.85, 0.82]) * r.uniform(0.75, 1.05))
        cols.append(np.array([0.85, 0.7, 0.2]) * r.uniform(0.8, 1.0))
        white, yellow = self.marking_polygons()
        for polys, k in ((white, 4), (yellow, 5)):
            reg = self.region(polys)
            if reg is not None:  # paint, on the road only
                ys, xs = reg.sl
                top = max(ys.start, y0)
                sub = cls[top - y0:ys.stop - y0, xs]
                sub[reg.mask[top - ys.start:] & (sub >= 3)] = k
        patch = np.clip(_smooth_noise(r, H - y0, W, W / 12), -1.5, 1.5)  # asphalt repairs
        tex = np.array([0.25, 0.10, 0.0, 0.12, 0.15, 0.15], np.float32)[cls]
        fac = 1 + tex * self.grain[y0:]
        fac *= np.where(cls == 3, 1 + np.float32(0.08) * patch, np.float32(1))
        self.albedo[y0:] = np.array(cols, np.float32)[cls] * fac[..., None]
        self.emit[y0:] = 0
        # IR: grass cool, sidewalks near the road's temperature; the road is warmer near the
        # camera by day (sun-heated); paint has exactly the road's temperature
        near = np.clip((yy[y0:, :1] - self.yh) / (H - self.yh), 0, 1)
        troad = self.t_road + (0.04 if not self.night else 0.015) * near + 0.008 * patch
        tother = np.array([self.t_grass, self.t_side, self.t_side], np.float32)[np.minimum(
            cls, 2)] + np.array([0.02, 0.01, 0.0], np.float32)[np.minimum(cls, 2)] * self.low[y0:]
        self.temp[y0:] = np.where(cls >= 3, troad, tother)
        self.sem[y0:] = np.array([BG, BG, BG, ROAD, MARKING, MARKING], np.uint8)[cls]
        self.retro[y0:] = np.array([0, 0, 0, 0, 0.4, 0.4], np.float32)[cls]
        self.ground[y0:] = 1

    def marking_polygons(self):
        """Road paint as ground polygons: (white polygons, yellow polygons); sets crosswalk."""
        r = self.rng
        hw = self.hw
        nl = int(round(hw / 1.75))  # lanes per direction
        zn, zf = self.z_bottom * 0.6, 300.0
        polys_white, polys_centre = [], []
        lw = 0.15
        # solid edge lines
        e = np.array([-(hw - 0.3), hw - 0.3])
        polys_white += list(self.ground_quads(e - lw / 2, e + lw / 2, zn, zf))
        # centre line: dashed white or solid yellow
        dashed_centre = r.random() < 0.6
        phase = r.uniform(0, 9)
        dash, gap = r.uniform(2.5, 4.0), r.uniform(4.0, 7.0)
        z0 = np.arange(zn - phase, zf, dash + gap)
        z1 = z0 + dash
        z0, z1 = np.maximum(z0[z1 > zn], zn), z1[z1 > zn]
        dash_x = [s * k * hw / nl for k in range(1, nl) for s in (-1, 1)]  # lane separators
        if dashed_centre:
            dash_x.append(0.0)
        else:
            o = np.array([-0.12, 0.12])
            polys_centre += list(self.ground_quads(o - lw / 2, o + lw / 2, zn, zf))
        for xc in dash_x:
            polys_white += list(self.ground_quads(xc - lw / 2, xc + lw / 2, z0, z1))
        # crosswalk
        self.crosswalk = None
        if r.random() < 0.3:
            zc = self.z_of_row(self.yh + (self.H - self.yh) * r.uniform(0.2, 0.55))
            depth = r.uniform(3.0, 4.5)
            xs = np.arange(-hw + 0.5, hw - 0.8, 1.0)
            polys_white += list(self.ground_quads(xs, xs + 0.5, zc, zc + depth))
            self.crosswalk = (zc, zc + depth)
        # stop line occasionally
        if r.random() < 0.3:
            zs = self.z_of_row(self.yh + (self.H - self.yh) * r.uniform(0.3, 0.6))
            polys_white += list(self.ground_quads(0.1, hw - 0.3, zs, zs + 0.4))
        return polys_white, polys_centre

    # ---- standing things -----------------------------------------------------------------
    def _foot_z(self, lo: float, hi: float) -> float:
        """Depth whose ground row lies at a fraction in [lo, hi] of the ground band."""
        return self.z_of_row(self.yh + (self.H - self.yh) * self.rng.uniform(lo, hi))

    def plan(self, side_kinds: Dict[int, str]):
        """Choose lamps, trees, signs, people and cars; returns the items sorted far to near."""
        r, hw, sw = self.rng, self.hw, self.sw
        items = []
        # lamps along one or both sides
        for s in (-1, 1):
            if r.random() < 0.7:
                z = self.z_bottom * r.uniform(1.0, 3.0)
                step = r.uniform(18, 30)
                while z < 120:
                    items.append(dict(kind='lamp', x=s * (hw + 0.4), z=z, side=s))
                    z += step
        for s in (-1, 1):
            if side_kinds[s] == 'trees' or r.random() < 0.25:
                z = self.z_bottom * r.uniform(0.8, 2.0)
                while z < 70:
                    items.append(
                        dict(kind='tree', x=s * (hw + sw - r.uniform(0.3, 1.0)), z=z, side=s))
                    z += r.uniform(7, 14)
        # signs (cold, VIS-only)
        n_signs = r.choice([1, 1, 2, 2, 3])
        signs = []
        for _ in range(n_signs):
            for _try in range(20):
                s = r.choice([-1, 1])
                x, z = s * (hw + r.uniform(0.3, 1.2)), self._foot_z(0.12, 0.5)
                if self.in_frame(x, 2.5, z, 0.05) and all(
                        abs(x - sx) > 2.0 or abs(z - sz) > 4.0 for sx, sz in signs):
                    break
            else:
                continue
            signs.append((x, z))
            items.append(
                dict(
                    kind='sign',
                    x=x,
                    z=z,
                    side=s,
                    type=int(r.integers(0, 5)),
                    size=r.uniform(0.75, 1.1),
                    pole=r.uniform(1.9, 2.5)))
        # cars (warm)
        placed = []  # (x, z, half width, length)
        n_cars = r.choice([0, 1, 1, 2, 2, 3, 4])
        for _ in range(n_cars):
            for _try in range(10):
                mode = r.choice(['lane', 'lane', 'parked', 'cross'])
                z = self._foot_z(0.08, 0.65)
                if mode == 'cross':
                    x, view, length = r.uniform(-hw, hw), 'side', r.uniform(4.0, 4.8)
                    half = length / 2
                    z = self._foot_z(0.06, 0.3)
                else:
                    if mode == 'parked':
                        x = r.choice([-1, 1]) * (hw - 1.2)
                    else:
                        nl = int(round(hw / 1.75))
                        lane = r.integers(0, nl)
                        x = r.choice([-1, 1]) * (lane + 0.5) * hw / nl
                    x += r.uniform(-0.25, 0.25)
                    view = 'front' if (x < 0 and mode == 'lane' and r.random() < 0.6) else 'rear'
                    half, length = r.uniform(0.85, 0.95), 4.5
                if not self.in_frame(x, 0.7, z, -0.1):
                    continue
                if all(
                        abs(x - px) > half + ph + 0.3 or abs(z - pz) > max(length, pl) + 0.5
                        for px, pz, ph, pl in placed):
                    placed.append((x, z, half, length))
                    items.append(
                        dict(
                            kind='car',
                            x=x,
                            z=z,
                            view=view,
                            half=half,
                            length=length,
                            moving=mode != 'parked'))
                    break
        # people (warm): on sidewalks, some crossing, some in small groups
        n_people = r.choice([1, 2, 2, 3, 3, 4, 5, 6])
        k = 0
        while k < n_people:
            for _try in range(10):
                if r.random() < 0.3:
                    if self.crosswalk is not None and r.random() < 0.6:
                        z = r.uniform(*self.crosswalk)
                    else:
                        z = self._foot_z(0.06, 0.5)
                    x = r.uniform(-hw + 0.3, hw - 0.3)
                else:
                    z = self._foot_z(0.05, 0.5)
                    x = r.choice([-1, 1]) * (hw + r.uniform(0.3, sw - 0.3))
                if not self.in_frame(x, 0.9, z, -0.05 if r.random() < 0.15 else 0.04):
                    continue
                if all(
                        abs(x - px) > ph + 0.4 or abs(z - pz) > pl + 0.4
                        for px, pz, ph, pl in placed):
                    break
            group = 1 if r.random() < 0.7 else int(r.integers(2, 4))
            for g in range(min(group, n_people - k)):
                items.append(
                    dict(
                        kind='person',
                        x=x + g * r.uniform(0.45, 0.7),
                        z=z + r.uniform(-0.6, 0.6) * (g > 0)))
                k += 1
        items.sort(key=lambda it: -it['z'])
        return items

    def in_frame(self, x: float, v: float, z: float, margin: float) -> bool:
        """Whether the point (x, v, z) projects inside the image, ``margin`` x W from the sides."""
        px, py = self.proj(x, v, z)
        return margin * self.W <= float(px) <= (1 - margin) * self.W and 0 <= float(py) < self.H

    def shadow_at(self, x: float, z: float) -> float:
        """Sunlight factor (1 = full sun) at a ground point, from the tree shadow blobs."""
        f = 1.0
        for sx, sz, rad, depth in self.shade_blobs:
            if (x - sx)**2 + (z - sz)**2 < rad**2:
                f = min(f, 1 - depth)
        return f

    def draw_lamp(self, it):
        r, s = self.rng, it['side']
        hgt = r.uniform(6, 8)
        x, z = it['x'], it['z']
        pole = self.plane_poly(_rect(-0.07, 0, 0.07, hgt), x, z)
        arm = self.plane_poly(
            np.array([[0, hgt - 0.1], [-s * 1.4, hgt + 0.1], [-s * 1.4, hgt], [0, hgt - 0.25]]), x,
            z)
        head = self.plane_poly(_rect(-s * 1.55, hgt - 0.12, -s * 1.0, hgt + 0.06), x, z)
        self.paint(
            self.region([pole, arm]),
            rgb=(0.35, 0.36, 0.38),
            temp='ambient',
            sem=BG,
            inst=0,
            ground=False)
        hx, hy = self.proj(x - s * 1.3, hgt, z)
        if self.night:
            col = np.array([1.0, 0.75, 0.45]) if r.random() < 0.6 else np.array([0.95, 0.95, 1.0])
            self.paint(
                self.region([head]),
                rgb=(0, 0, 0),
                emit=col * 3,
                temp=self.t_wall + 0.3,
                sem=BG,
                inst=0,
                ground=False)
            sc = self.scale(z)
            self.glares.append((hx, hy, max(1.5, 0.8 * sc), max(1.5, 0.8 * sc), col * 0.6))
            # light pool on the ground under the lamp
            gx, gy = self.proj(x - s * 1.3, 0, z)
            self.lamp_pools.append(
                (gx, gy, 3.0 * sc, 3.0 * self.f * self.hc / z**2, col * r.uniform(0.12, 0.25)))
        else:
            self.paint(
                self.region([head]),
                rgb=(0.5, 0.5, 0.52),
                temp='ambient',
                sem=BG,
                inst=0,
                ground=False)

    def draw_tree(self, it):
        r = self.rng
        x, z = it['x'], it['z']
        th, cr = r.uniform(2.0, 3.0), r.uniform(1.5, 2.8)
        trunk = self.plane_poly(_rect(-0.15, 0, 0.15, th + cr * 0.5), x, z)
        self.paint(
            self.region([trunk]),
            rgb=(0.25, 0.18, 0.12),
            temp=self.t_tree + 0.03,
            tex=0.2,
            sem=BG,
            inst=0,
            ground=False)
        blobs = []
        for _ in range(int(r.integers(3, 6))):
            bx, by = r.uniform(-0.6, 0.6) * cr, th + cr + r.uniform(-0.5, 0.6) * cr
            rad = cr * r.uniform(0.55, 0.85)
            e = _ellipse(bx, by, rad, rad * r.uniform(0.8, 1.1), 18)
            e = e + r.normal(0, 0.08 * rad, e.shape)
            blobs.append(self.plane_poly(e, x, z))
        leaf = np.array([0.16, 0.3, 0.1]) * r.uniform(0.7, 1.2)
        reg = self.region(blobs)
        self.paint(
            reg,
            rgb=lambda sl: (leaf * np.clip(1 + 0.35 * self.grain[sl] + 0.3 * self.low[sl], 0.2, 2)[
                ..., None]).astype(np.float32),
            temp=self.t_tree,
            ttex=0.03,
            sem=BG,
            inst=0,
            ground=False)

    def draw_sign(self, it, inst_id):
        r = self.rng
        x, z, a, hp = it['x'], it['z'], it['size'], it['pole']
        pole = self.plane_poly(_rect(-0.04, 0, 0.04, hp), x, z)
        self.paint(
            self.region([pole]),
            rgb=(0.55, 0.56, 0.58),
            temp='ambient',
            sem=BG,
            inst=0,
            ground=False)
        c = hp + a / 2
        t = it['type']
        red, white, blue = (0.75, 0.08, 0.08), (0.9, 0.9, 0.88), (0.08, 0.25, 0.7)
        yellow, black = (0.92, 0.78, 0.1), (0.06, 0.06, 0.06)
        if t == 0:  # prohibitory: red ring, white disk, black bar
            layers = [(_ellipse(0, c, a / 2, a / 2, 24), red),
                      (_ellipse(0, c, a * 0.36, a * 0.36, 24), white),
                      (_rect(-a * 0.22, c - a * 0.06, a * 0.22, c + a * 0.06), black)]
        elif t == 1:  # mandatory: white rim, blue disk, white arrow
            layers = [(_ellipse(0, c, a / 2, a / 2, 24), white),
                      (_ellipse(0, c, a * 0.45, a * 0.45, 24), blue),
                      (np.array([[-0.06 * a, c - 0.3 * a], [0.06 * a, c - 0.3 * a],
                                 [0.06 * a, c + 0.05 * a], [0.18 * a, c + 0.05 * a],
                                 [0, c + 0.3 * a], [-0.18 * a, c + 0.05 * a],
                                 [-0.06 * a, c + 0.05 * a]]), white)]
        elif t == 2:  # warning: triangle, red border, yellow or white field, black mark

            def tri(k):
                return np.array([[-a / 2 * k, c - a * 0.43 * k], [a / 2 * k, c - a * 0.43 * k],
                                 [0, c + a * 0.43 * k]])

            layers = [(tri(1.0), red), (tri(0.7), yellow if r.random() < 0.5 else white),
                      (_rect(-0.035 * a, c - 0.1 * a, 0.035 * a, c + 0.15 * a), black)]
        elif t == 3:  # information: white rim, blue square with a white letter
            layers = [(_rect(-a / 2, c - a / 2, a / 2, c + a / 2), white),
                      (_rect(-0.45 * a, c - 0.45 * a, 0.45 * a, c + 0.45 * a), blue),
                      (_rect(-0.2 * a, c - 0.3 * a, -0.05 * a, c + 0.3 * a), white),
                      (_rect(-0.05 * a, c + 0.05 * a, 0.2 * a, c + 0.3 * a), white)]
        else:  # stop: white rim, red octagon (flat top), white band
            ang = np.pi / 8
            rot = np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
            octagon = _ellipse(0, 0, a / 2, a / 2, 8) @ rot.T
            layers = [(octagon + np.array([0, c]), white), (octagon * 0.9 + np.array([0, c]), red),
                      (_rect(-0.32 * a, c - 0.08 * a, 0.32 * a, c + 0.08 * a), white)]
        # some signs are weathered / low luminance contrast
        fade = r.uniform(0.7, 1.0)
        outer = self.region([self.plane_poly(layers[0][0], x, z)])
        if outer is None:
            return
        self.paint(outer, temp='ambient', sem=SIGN, inst=inst_id, ground=False, retro=1.0)
        for poly, col in layers:
            self.paint(
                self.region([self.plane_poly(poly, x, z)]),
                rgb=np.asarray(col) * fade + (1 - fade) * 0.45,
                tex=0.04)
        self.objects.append(dict(id=inst_id, sem=SIGN, reg=outer))

    def draw_person(self, it, inst_id):
        r = self.rng
        x, z = it['x'], it['z']
        child = r.random() < 0.1
        h = r.uniform(1.05, 1.3) if child else r.uniform(1.55, 1.9)
        wf = r.uniform(0.9, 1.15) / (h / 1.75)**0.3
        stride = r.uniform(-1, 1) * (0.13 if r.random() < 0.6 else 0.04)
        swing = r.uniform(-0.08, 0.08)
        U = lambda u: u * h * wf  # noqa: E731
        V = lambda v: v * h  # noqa: E731
        head = _ellipse(0, V(0.935), U(0.062), V(0.066), 16)
        neck = _rect(U(-0.03), V(0.84), U(0.03), V(0.9))
        torso = np.array([[U(-0.135), V(0.86)], [U(0.135), V(0.86)], [U(0.115), V(0.5)],
                          [U(-0.115), V(0.5)]])
        legs = [
            _quad_segment(U(-0.06), V(0.52), U(-0.06 - stride), V(0.02), U(0.085), U(0.06)),
            _quad_segment(U(0.06), V(0.52), U(0.06 + stride), V(0.02), U(0.085), U(0.06))
        ]
        feet = [
            _rect(U(-0.1 - stride), 0, U(-0.02 - stride), V(0.03)),
            _rect(U(0.02 + stride), 0, U(0.1 + stride), V(0.03))
        ]
        arms = [
            _quad_segment(U(-0.13), V(0.84), U(-0.17 + swing), V(0.47), U(0.065), U(0.05)),
            _quad_segment(U(0.13), V(0.84), U(0.17 - swing), V(0.47), U(0.065), U(0.05))
        ]
        P = lambda polys: [self.plane_poly(p, x, z) for p in polys]  # noqa: E731
        reg = self.region(P([head, neck, torso] + legs + feet + arms))
        if reg is None:
            return
        # clothing: by day mostly clearly darker or brighter than the street, a few mid-grey
        # (weak VIS contrast); by night the albedo is close to what lies behind, so under
        # the weak ambient light the person is near invisible in VIS
        tops = [(0.08, 0.08, 0.1), (0.12, 0.14, 0.3), (0.75, 0.12, 0.1), (0.85, 0.85, 0.82),
                (0.2, 0.45, 0.75), (0.9, 0.75, 0.2), (0.35, 0.55, 0.25), (0.6, 0.25, 0.55),
                (0.45, 0.45, 0.45)]
        bottoms = [(0.06, 0.06, 0.07), (0.1, 0.12, 0.25), (0.2, 0.3, 0.5), (0.65, 0.58, 0.42),
                   (0.8, 0.8, 0.78), (0.42, 0.42, 0.42)]
        if self.night:
            bg = float(self.albedo[reg.sl][reg.mask].mean())
            top, bottom = (
                np.clip(bg * r.uniform(0.7, 1.3) * r.uniform(0.8, 1.2, 3), 0.03, 0.7)
                for _ in range(2))
        else:
            top = np.array(tops[r.integers(0, len(tops))]) * r.uniform(0.85, 1.1)
            bottom = np.array(bottoms[r.integers(0, len(bottoms))]) * r.uniform(0.85, 1.1)
        skin = np.array([0.78, 0.6, 0.48]) * r.uniform(0.6, 1.1)
        hair = np.array([0.12, 0.09, 0.07]) * r.uniform(0.7, 2.0)
        shade = self.shadow_at(x, z)  # standing in a tree shadow darkens the whole figure
        t0 = self.t_person + r.uniform(-0.05, 0.05)
        self.paint(reg, sem=PERSON, inst=inst_id, ground=False)
        for polys, col, tt in [(legs + feet, bottom, t0 - 0.07), (arms + [torso], top, t0 - 0.03),
                               ([neck], skin, t0 + 0.06),
                               ([head], skin if r.random() < 0.6 else hair, t0 + 0.08)]:
            self.paint(self.region(P(polys)), rgb=col * shade, temp=tt, tex=0.06)
        self.objects.append(dict(id=inst_id, sem=PERSON, reg=reg))

    def draw_car(self, it, inst_id):
        r = self.rng
        x, z, view = it['x'], it['z'], it['view']
        body_col = np.array([(0.85, 0.85, 0.85), (0.6, 0.62, 0.65), (0.08, 0.08, 0.09),
                             (0.6, 0.08, 0.08), (0.12, 0.2, 0.5), (0.35, 0.36, 0.38),
                             (0.7, 0.65, 0.55)][r.integers(0, 7)]) * r.uniform(0.85, 1.1)
        ch = r.uniform(1.4, 1.65)
        tb = self.t_car + r.uniform(-0.04, 0.04) - (0.06 if not it['moving'] else 0)
        thot = tb + r.uniform(0.25, 0.35)
        lights = self.night and r.random() < (0.5 if it['moving'] else 0.1)
        if view == 'side':
            L = it['length']
            sgn = r.choice([-1, 1])
            u = lambda a: sgn * a * L  # noqa: E731
            body = np.array([[u(-0.5), 0.28], [u(0.5), 0.28], [u(0.5), 0.78], [u(0.3), 0.92],
                             [u(-0.47), 0.92], [u(-0.5), 0.8]])
            cabin = np.array([[u(0.25), 0.9], [u(0.1), ch], [u(-0.3), ch], [u(-0.42), 0.9]])
            win = np.array([[u(0.2), 0.95], [u(0.08), ch - 0.08], [u(-0.28), ch - 0.08],
                            [u(-0.38), 0.95]])
            wheels = [
                _ellipse(u(0.32), 0.33, 0.33, 0.33, 16),
                _ellipse(u(-0.32), 0.33, 0.33, 0.33, 16)
            ]
            parts = [(body, body_col, tb + 0.05), (cabin, body_col, tb),
                     (win, (0.12, 0.15, 0.2), tb - 0.15)]
            wheel_parts = [(w, (0.05, 0.05, 0.05), thot) for w in wheels]
            hot = [(_rect(u(0.3), 0.3, u(0.48), 0.75), None, thot - 0.05)]  # engine bay
            light_polys = [(_rect(u(0.47), 0.6, u(0.5), 0.72), (1.5, 1.4, 1.2))] if lights else []
            half = L / 2
        else:
            half = it['half']
            cw = 2 * half
            body = _rect(-half, 0.22, half, 0.62 * ch)
            cabin = np.array([[-0.47 * cw, 0.62 * ch], [0.47 * cw, 0.62 * ch], [0.36 * cw, ch],
                              [-0.36 * cw, ch]])
            win = np.array([[-0.41 * cw, 0.67 * ch], [0.41 * cw, 0.67 * ch], [0.32 * cw, 0.95 * ch],
                            [-0.32 * cw, 0.95 * ch]])
            wheels = [_rect(-half, 0, -half + 0.26, 0.32), _rect(half - 0.26, 0, half, 0.32)]
            under = _rect(-half + 0.26, 0.05, half - 0.26, 0.24)
            parts = [(body, body_col, tb), (cabin, body_col, tb - 0.02),
                     (win, (0.1, 0.12, 0.16), tb - 0.16), (under, (0.04, 0.04, 0.04), thot - 0.08)]
            wheel_parts = [(w, (0.05, 0.05, 0.05), thot) for w in wheels]
            plate = (_rect(-0.26, 0.3, 0.26, 0.42), (0.85, 0.85, 0.8), None)
            parts.append(plate)
            lamp_l = _rect(-0.46 * cw, 0.45 * ch, -0.3 * cw, 0.54 * ch)
            lamp_r = _rect(0.3 * cw, 0.45 * ch, 0.46 * cw, 0.54 * ch)
            lamp_col = (0.6, 0.05, 0.05) if view == 'rear' else (0.8, 0.8, 0.75)
            parts += [(lamp_l, lamp_col, None), (lamp_r, lamp_col, None)]
            hot = [(_rect(-0.35 * cw, 0.22, 0.35 * cw, 0.45), None, tb + 0.08)] if view == 'front' \
                else [(_rect(0.25 * cw, 0.1, 0.4 * cw, 0.25), None, thot)]  # grille / exhaust
            light_polys = []
            if lights:
                on = (1.4, 0.15, 0.1) if view == 'rear' else (1.6, 1.6, 1.4)
                light_polys = [(lamp_l, on), (lamp_r, on)]
        P = lambda p: self.plane_poly(p, x, z)  # noqa: E731
        outline = [P(p) for p, _, _ in parts] + [P(p) for p, _, _ in wheel_parts]
        reg = self.region(outline)
        if reg is None:
            return
        if self.night:  # under the weak ambient light the body blends with what lies behind
            bg = float(self.albedo[reg.sl][reg.mask].mean())
            body_col = np.clip(bg * r.uniform(0.7, 1.3) * r.uniform(0.85, 1.15, 3), 0.03, 0.8)
            for i, (p, col, t) in enumerate(parts):
                if i < 2:
                    parts[i] = (p, body_col, t)
                elif col is not None and i >= 4:  # plate and lamp glass: dim, dirty
                    parts[i] = (p, np.clip(body_col * 1.6, 0, 0.6), t)
        shade = self.shadow_at(x, z)
        # contact shadow on the ground under the car (VIS only)
        sh = self.region(self.ground_quads(x - half * 1.05, x + half * 1.05, z, z + 1.5))
        if sh is not None:
            m = sh.mask & (self.ground[sh.sl] > 0)
            self.albedo[sh.sl][m] *= 0.45
        self.paint(reg, sem=CAR, inst=inst_id, ground=False, temp=tb)
        for p, col, t in parts + wheel_parts:
            self.paint(
                self.region([P(p)]),
                rgb=None if col is None else np.asarray(col) * shade,
                temp=t,
                tex=0.04)
        for p, _, t in hot:
            self.paint(self.region([P(p)]), temp=t)
        for p, on in light_polys:
            lr = self.region([P(p)])
            self.paint(lr, emit=np.asarray(on) * 0.8)
            if lr is not None and view == 'front':
                cx, cy = lr.x0 + lr.mask.shape[1] / 2, lr.y0 + lr.mask.shape[0] / 2
                g = 1.5 + 0.15 * self.scale(z)
                self.glares.append((cx, cy, g, g, np.asarray(on) * 0.5))
        self.objects.append(dict(id=inst_id, sem=CAR, reg=reg))

    # ---- composition -----------------------------------------------------------------------
    def _add_glow(self, out: np.ndarray, items) -> None:
        """Add separable Gaussian light blobs ``(cx, cy, rx, ry, rgb)`` to ``out`` (H, W, 3)."""
        for cx, cy, rx, ry, col in items:
            x0, x1 = int(max(cx - 3 * rx, 0)), int(min(cx + 3 * rx + 1, self.W))
            y0, y1 = int(max(cy - 3 * ry, 0)), int(min(cy + 3 * ry + 1, self.H))
            if x0 >= x1 or y0 >= y1:
                continue
            gx = np.exp(-((np.arange(x0, x1, dtype=np.float32) - cx) / rx)**2)
            gy = np.exp(-((np.arange(y0, y1, dtype=np.float32) - cy) / ry)**2)
            out[y0:y1, x0:x1] += (gy[:, None] * gx[None, :])[..., None] * \
                np.asarray(col, np.float32)

    def compose_vis(self) -> np.ndarray:
        """Light the scene, expose, blur and add sensor noise -> (H, W, 3) uint8 RGB."""
        r, H, W = self.rng, self.H, self.W
        if self.night:
            amb = np.array([0.032, 0.034, 0.04], np.float32) * r.uniform(0.75, 1.3)
            light = np.empty((H, W, 3), np.float32)
            light[:] = amb
            self._add_glow(light, self.lamp_pools)
            # ego headlights: a beam on the road ahead, fading with distance
            y0 = min(max(int(np.floor(self.yh)) + 1, 0), H)
            yy, xx = _pixel_grid(W, H)
            dy = yy[y0:] - np.float32(self.yh)
            zg = np.float32(self.f * self.hc) / dy
            xg = (xx[y0:] - np.float32(self.vx)) * (np.float32(self.hc) / dy)
            beam = np.float32(r.uniform(
                0.3, 0.6)) * np.exp(-(xg / (1.0 + 0.22 * zg))**2 - zg / np.float32(14.0))
            light[y0:] += beam[..., None] * np.array([1.0, 0.97, 0.9], np.float32)
            # retro-reflective signs and paint shine back in the headlights
            light += (self.retro * np.float32(r.uniform(0.25, 0.45)))[..., None]
            exposure = r.uniform(1.8, 2.6)
        else:
            lum = np.float32(r.uniform(0.75, 1.15)) * (1 + 0.06 * self.low)
            if self.sunny and self.shade_blobs:
                sh = np.ones((H, W), np.float32)
                for sx, sz, rad, depth in self.shade_blobs:
                    e = _ellipse(sx, sz, rad, rad * 1.3, 16)
                    e = e + r.normal(0, 0.15 * rad, e.shape)  # ragged canopy outline
                    reg = self.region([self.ground_poly(e)])
                    if reg is not None:
                        m = reg.mask & (self.ground[reg.sl] > 0)
                        sh[reg.sl][m] = np.minimum(sh[reg.sl][m], 1 - depth)
                sh = cv2.GaussianBlur(sh, (0, 0), 1.5)
                lum *= sh
                # thermal shadow: shaded ground is cooler in IR
                self.temp -= np.where(self.ground > 0, (1 - sh) * 0.08, 0).astype(np.float32)
            light = lum[..., None] * np.array([1.0, 0.98, 0.94], np.float32)
            exposure = r.uniform(0.85, 1.1)
        img = self.albedo * light
        img += self.emit
        self._add_glow(img, self.glares)
        # exposure with mild vignetting, optics blur
        img *= _vignette(W, H)
        img *= np.float32(exposure)
        np.clip(img, 0, 1.5, out=img)
        img = cv2.GaussianBlur(img, (0, 0), 0.6)
        # sensor noise: read + shot noise, much stronger with the night gain. From one draw of
        # uniform u (H, W, 3): per-channel (colour) part u - 0.5 and a shared (luma) part, the
        # channel sum, which is close to Gaussian.
        read = (r.uniform(3.0, 5.0) if self.night else r.uniform(1.0, 2.0)) / 255
        shot = 0.02 if self.night else 0.01
        luma = np.clip(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY), 0, 1)
        sigma = np.sqrt(np.float32(read**2) + np.float32(shot / 20) * luma)[..., None]
        noise = r.random((H, W, 3), dtype=np.float32)
        noise -= np.float32(0.5)
        shared = noise.sum(2, keepdims=True)  # variance 3/12
        noise *= np.float32(1.43)
        noise += shared * np.float32(1.40)  # std 1.0 per channel, channels 0.8 correlated
        noise *= sigma
        img += noise
        out = cv2.convertScaleAbs(img, alpha=255)  # RGB uint8, rounded and clipped to 0..255
        if self.night:  # the camera's tone curve lifts the shadows a little
            out = cv2.LUT(out, _NIGHT_TONE)
        return out

    def compose_ir(self) -> np.ndarray:
        r, H, W = self.rng, self.H, self.W
        t = self.temp.copy()
        yy = np.arange(H, dtype=np.float32)[:, None]
        # low-frequency thermal gradient (non-uniformity, wind, sun-heated patches)
        t += 0.015 * _smooth_noise(r, H, W, max(W, H) / 2) + r.uniform(-0.03, 0.03) * (yy / H - 0.5)
        t = cv2.GaussianBlur(t, (0, 0), r.uniform(0.9, 1.4))  # IR optics are softer
        gain, off = r.uniform(0.92, 1.08), r.uniform(-0.02, 0.02)
        t = t * gain + off
        fpn = r.standard_normal((1, W), dtype=np.float32) * (0.7 / 255)
        noise = r.standard_normal((H, W), dtype=np.float32) * (r.uniform(1.2, 2.2) / 255)
        t = t + fpn + noise
        return np.round(np.clip(t, 0, 1) * 255).astype(np.uint8)

    # ---- all together ------------------------------------------------------------------------
    def render(self):
        self.draw_sky()
        self.draw_ground()
        self.draw_skyline()
        side_kinds = {s: self.draw_side(s) for s in (-1, 1)}
        items = self.plan(side_kinds)
        # tree shadows must exist before people/cars are shaded: trees are planned first,
        # so register their shadows now (drawn later in depth order)
        next_id = 1
        trees = [it for it in items if it['kind'] == 'tree']
        if self.sunny:
            for it in trees:
                cr = 2.2
                self.shade_blobs.append(
                    (it['x'] - self.sun_side * cr * 0.8, it['z'] - 1.0, cr * 1.1,
                     float(self.rng.uniform(0.45, 0.6))))
        for it in items:
            k = it['kind']
            if k == 'lamp':
                self.draw_lamp(it)
            elif k == 'tree':
                self.draw_tree(it)
            elif k == 'sign':
                self.draw_sign(it, next_id)
                next_id += 1
            elif k == 'person':
                self.draw_person(it, next_id)
                next_id += 1
            elif k == 'car':
                self.draw_car(it, next_id)
                next_id += 1
        vis = self.compose_vis()
        ir = self.compose_ir()
        sal = np.where(np.isin(self.sem, DEMO_SALIENT_SEG_IDS), 255, 0).astype(np.uint8)
        boxes = []
        for ob in self.objects:
            reg = ob['reg']
            sub = self.inst[reg.sl] == ob['id']
            n = int(sub.sum())
            if n < MIN_VISIBLE_PIXELS:
                continue
            ys, xs = np.nonzero(sub)
            x0, x1 = reg.x0 + int(xs.min()), reg.x0 + int(xs.max()) + 1
            y0, y1 = reg.y0 + int(ys.min()), reg.y0 + int(ys.max()) + 1
            if min(x1 - x0, y1 - y0) < MIN_BOX_SIDE:
                continue
            boxes.append(
                dict(category_id=_DET_ID[ob['sem']], bbox=[x0, y0, x1 - x0, y1 - y0], area=n))
        return ir, vis, self.sem.copy(), sal, boxes


def render_demo_sample(index: int,
                       seed: int = 0,
                       size: Tuple[int, int] = (320, 256),
                       night: Optional[bool] = None) -> dict:
    """Render one demo sample in memory (no files).

    Args:
        index (int): Image index; with ``seed`` it seeds the image's own generator.
        seed (int): Dataset seed.
        size (tuple): ``(W, H)``, both >= 64.
        night (bool, optional): Force night/day; by default chosen from ``(seed, index)``.

    Returns:
        dict: ``ir`` (H, W) uint8; ``vis`` (H, W, 3) uint8 **RGB**; ``seg`` (H, W) uint8 class
        ids of DEMO_SEG_CLASSES; ``sal`` (H, W) uint8 0/255; ``boxes``: list of dicts with
        ``category_id`` (1 person, 2 car, 3 sign), ``bbox`` [x, y, w, h] ints and ``area``
        (visible pixels); ``night`` bool.
    """
    w, h = _check_size(size)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f'demo data: seed must be an integer >= 0, got {seed!r}')
    if night is None:
        night = bool(np.random.Generator(np.random.PCG64([seed, index, 7])).random() < 0.5)
    rng = np.random.Generator(np.random.PCG64([int(seed), int(index)]))
    ir, vis, seg, sal, boxes = _Scene(w, h, rng, bool(night)).render()
    return dict(ir=ir, vis=vis, seg=seg, sal=sal, boxes=boxes, night=bool(night))


# --------------------------------------------------------------------------------------------
# dataset on disk
# --------------------------------------------------------------------------------------------
def _check_size(size) -> Tuple[int, int]:
    try:
        w, h = (int(v) for v in size)
    except (TypeError, ValueError):
        raise ValueError(f'demo data size must be (W, H), got {size!r}') from None
    if w < MIN_SIZE or h < MIN_SIZE:
        raise ValueError(f'demo data size (W, H) must be >= {MIN_SIZE} each, got {(w, h)}')
    return w, h


def _night_flags(seed: int, split_id: int, n: int) -> np.ndarray:
    """Balanced, shuffled day/night flags for one split (ceil(n/2) day, floor(n/2) night)."""
    flags = np.array([False] * ((n + 1) // 2) + [True] * (n // 2))
    return np.random.Generator(np.random.PCG64([int(seed), 0xD0E, split_id])).permutation(flags)


def _stem(index: int, night: bool) -> str:
    return f'demo_{index:05d}{"N" if night else "D"}'


def _params(num_train, num_val, size, seed) -> dict:
    return dict(
        generator=DEMO_GENERATOR,
        version=DEMO_GENERATOR_VERSION,
        seed=int(seed),
        size=[int(size[0]), int(size[1])],
        num_train=int(num_train),
        num_val=int(num_val))


def _read_meta(out_dir: str) -> Optional[dict]:
    path = osp.join(out_dir, 'meta.json')
    if not osp.isfile(path):
        return None
    try:
        with open(path) as f:
            meta = json.load(f)
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) and meta.get('generator') == DEMO_GENERATOR else None


def _is_complete(out_dir: str, meta: dict) -> bool:
    for split in ('train', 'val'):
        p = osp.join(out_dir, 'splits', f'{split}.txt')
        a = osp.join(out_dir, 'annotations', f'{split}.json')
        if not (osp.isfile(p) and osp.isfile(a)):
            return False
        with open(p) as f:
            stems = f.read().split()
        if len(stems) != meta.get(f'num_{split}'):
            return False
        for s in stems:
            for d in _SUBDIRS:
                if not osp.isfile(osp.join(out_dir, d, s + '.png')):
                    return False
    return True


def _remove_demo_files(out_dir: str) -> None:
    """Delete only what this generator writes (demo_NNNNN[DN].png, its json/txt, marker)."""
    for d in _SUBDIRS:
        p = osp.join(out_dir, d)
        if osp.isdir(p):
            for name in os.listdir(p):
                if name.endswith('.png') and _STEM_RE.match(name[:-4]):
                    os.remove(osp.join(p, name))
    for rel in ('annotations/train.json', 'annotations/val.json', 'splits/train.txt',
                'splits/val.txt', 'meta.json', _MARKER):
        p = osp.join(out_dir, rel)
        if osp.isfile(p):
            os.remove(p)


def generate_demo_dataset(out_dir: str = 'data/demo',
                          num_train: int = 96,
                          num_val: int = 32,
                          size: Tuple[int, int] = (320, 256),
                          seed: int = 0,
                          overwrite: bool = False) -> dict:
    """Write the synthetic IR/VIS demo dataset (see the module docstring) and return its meta.

    Args:
        out_dir (str): Output root (created if missing).
        num_train (int): Training pairs (>= 1).
        num_val (int): Validation pairs (>= 1).
        size (tuple): ``(W, H)`` in pixels, each >= 64.
        seed (int): Seed; the same seed gives byte-identical files.
        overwrite (bool): Allow writing into a non-empty folder that is not a demo dataset.
            Even then only the generator's own file names are deleted/replaced.

    Returns:
        dict: The content of ``meta.json``: ``generator``, ``version``, ``seed``, ``size``
        [W, H], ``num_train``, ``num_val``, ``counts``, class names, palettes, ``layout``,
        ``seconds`` (generation time) and ``reused`` (True when an existing complete dataset
        with the same parameters was found and nothing was written).

    Raises:
        FileExistsError: ``out_dir`` is a non-empty folder that is not a demo dataset and
            ``overwrite`` is False.
        ValueError: Bad counts or size.
    """
    t0 = time.perf_counter()
    w, h = _check_size(size)
    for name, v, lo in (('num_train', num_train, 1), ('num_val', num_val, 1), ('seed', seed, 0)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
            raise ValueError(f'demo data: {name} must be an integer >= {lo}, got {v!r}')
    params = _params(num_train, num_val, (w, h), seed)
    out_dir = str(out_dir)
    if osp.exists(out_dir) and not osp.isdir(out_dir):
        raise FileExistsError(f'demo data output {out_dir!r} exists and is not a folder')
    if osp.isdir(out_dir) and os.listdir(out_dir):
        meta = _read_meta(out_dir)
        if meta is not None and all(meta.get(k) == v for k, v in params.items()) \
                and _is_complete(out_dir, meta):
            meta.update(reused=True, seconds=round(time.perf_counter() - t0, 3))
            return meta
        is_demo = meta is not None or osp.isfile(osp.join(out_dir, _MARKER))
        if not is_demo and not overwrite:
            raise FileExistsError(
                f'demo data: refusing to write into {osp.abspath(out_dir)!r}: the folder is not '
                'empty and is not a demo dataset made by cldyn_mm.testing.demo_data (no '
                'meta.json). '
                'Choose another --out folder or pass overwrite=True (--overwrite); only the '
                "generator's own file names are replaced then.")
        _remove_demo_files(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    with open(osp.join(out_dir, _MARKER), 'w') as f:  # marks a (possibly partial) demo folder
        f.write(DEMO_GENERATOR + '\n')
    for d in _SUBDIRS + ('annotations', 'splits'):
        os.makedirs(osp.join(out_dir, d), exist_ok=True)

    def write_sample(idx: int, night: bool) -> list:
        s = render_demo_sample(idx, seed, (w, h), night=night)
        stem = _stem(idx, night)
        for d, img in zip(_SUBDIRS, (s['ir'], s['vis'][..., ::-1], s['seg'], s['sal'])):
            path = osp.join(out_dir, d, stem + '.png')
            if not cv2.imwrite(path, img):
                raise OSError(f'demo data: could not write {path}')
        return s['boxes']

    # (split, index, night) of every image; train takes indices 0 .. num_train-1
    todo = []
    for split_id, (split, n) in enumerate((('train', int(num_train)), ('val', int(num_val)))):
        todo += [(split, len(todo) + k, bool(f))
                 for k, f in enumerate(_night_flags(seed, split_id, n))]
    # Images are independent (own generator each), so two threads render and write them
    # (numpy and OpenCV release the GIL); the files are identical to a serial run.
    with ThreadPoolExecutor(max_workers=min(2, os.cpu_count() or 1)) as pool:
        all_boxes = list(pool.map(write_sample, [t[1] for t in todo], [t[2] for t in todo]))
    counts = {}
    categories = [
        dict(id=i + 1, name=c, supercategory='cold' if c == 'sign' else 'warm')
        for i, c in enumerate(DEMO_DET_CLASSES)
    ]
    for split in ('train', 'val'):
        images, anns, stems = [], [], []
        per_class = {c: 0 for c in DEMO_DET_CLASSES}
        for (sp, idx, night), boxes in zip(todo, all_boxes):
            if sp != split:
                continue
            stem = _stem(idx, night)
            stems.append(stem)
            images.append(
                dict(
                    id=idx + 1,
                    file_name=stem + '.png',
                    ir_path=f'ir/{stem}.png',
                    vi_path=f'vi/{stem}.png',
                    seg_path=f'Segmentation_labels/{stem}.png',
                    sal_path=f'saliency/{stem}.png',
                    width=w,
                    height=h,
                    is_night=night))
            for b in boxes:
                anns.append(
                    dict(
                        id=len(anns) + 1,
                        image_id=idx + 1,
                        category_id=b['category_id'],
                        bbox=[float(v) for v in b['bbox']],
                        area=float(b['area']),
                        iscrowd=0))
                per_class[DEMO_DET_CLASSES[b['category_id'] - 1]] += 1
        coco = dict(
            info=dict(
                description=f'cldyn_mm synthetic IR/VIS demo data ({split})',
                version=DEMO_GENERATOR_VERSION),
            licenses=[],
            images=images,
            annotations=anns,
            categories=categories)
        with open(osp.join(out_dir, 'annotations', f'{split}.json'), 'w') as f:
            json.dump(coco, f)
        with open(osp.join(out_dir, 'splits', f'{split}.txt'), 'w') as f:
            f.write('\n'.join(stems) + '\n')
        n_night = sum(im['is_night'] for im in images)
        counts[split] = dict(
            images=len(images), night=n_night, day=len(images) - n_night, boxes=per_class)
    seconds = round(time.perf_counter() - t0, 3)
    meta = dict(
        params,
        counts=counts,
        det_classes=list(DEMO_DET_CLASSES),
        det_category_ids={
            c: i + 1
            for i, c in enumerate(DEMO_DET_CLASSES)
        },
        det_palette=[list(c) for c in DEMO_DET_PALETTE],
        seg_classes=list(DEMO_SEG_CLASSES),
        seg_palette=[list(c) for c in DEMO_SEG_PALETTE],
        saliency=dict(
            values=[0, 255],
            salient_seg_classes=[DEMO_SEG_CLASSES[i] for i in DEMO_SALIENT_SEG_IDS]),
        layout=dict(
            ir='ir/<stem>.png (uint8 grey)',
            vi='vi/<stem>.png (uint8 colour, BGR file)',
            seg='Segmentation_labels/<stem>.png (uint8 class ids)',
            sal='saliency/<stem>.png (uint8 0/255)',
            det='annotations/{train,val}.json (COCO)',
            splits='splits/{train,val}.txt'),
        min_box=dict(visible_pixels=MIN_VISIBLE_PIXELS, side=MIN_BOX_SIDE))
    with open(osp.join(out_dir, 'meta.json'), 'w') as f:  # written last: marks completion
        json.dump(meta, f, indent=2)
    meta = dict(meta, seconds=seconds, reused=False)
    return meta


# --------------------------------------------------------------------------------------------
# preview
# --------------------------------------------------------------------------------------------
def render_contact_sheet(
    root: str,
    stems: Sequence[str],
    out_path: str,
    ann_files: Sequence[str] = ('annotations/train.json', 'annotations/val.json')
) -> np.ndarray:
    """Write a PNG with one row per stem: IR | VIS | seg (palette) | saliency, boxes drawn.

    Returns the sheet as an (rows*H, 4*W, 3) uint8 BGR array.
    """
    boxes: Dict[str, list] = {}
    for a in ann_files:
        p = osp.join(root, a)
        if osp.isfile(p):
            with open(p) as f:
                coco = json.load(f)
            id2stem = {im['id']: im['file_name'][:-4] for im in coco['images']}
            for an in coco['annotations']:
                boxes.setdefault(id2stem[an['image_id']], []).append(an)
    pal = np.array(DEMO_SEG_PALETTE, np.uint8)[:, ::-1]
    rows = []
    for s in stems:
        ir = cv2.imread(osp.join(root, 'ir', s + '.png'), cv2.IMREAD_GRAYSCALE)
        vi = cv2.imread(osp.join(root, 'vi', s + '.png'), cv2.IMREAD_COLOR)
        seg = cv2.imread(osp.join(root, 'Segmentation_labels', s + '.png'), cv2.IMREAD_UNCHANGED)
        sal = cv2.imread(osp.join(root, 'saliency', s + '.png'), cv2.IMREAD_GRAYSCALE)
        if ir is None or vi is None or seg is None or sal is None:
            raise FileNotFoundError(f'contact sheet: missing files for stem {s!r} under {root!r}')
        tiles = [
            cv2.cvtColor(ir, cv2.COLOR_GRAY2BGR),
            vi.copy(), pal[seg],
            cv2.cvtColor(sal, cv2.COLOR_GRAY2BGR)
        ]
        for an in boxes.get(s, []):
            x, y, bw, bh = (int(round(v)) for v in an['bbox'])
            col = tuple(int(c) for c in DEMO_DET_PALETTE[an['category_id'] - 1][::-1])
            for t in tiles[:2]:
                cv2.rectangle(t, (x, y), (x + bw - 1, y + bh - 1), col, 1)
        row = np.concatenate(tiles, 1)
        cv2.putText(row, s, (3, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 255, 255), 1)
        rows.append(row)
    sheet = np.concatenate(rows, 0)
    cv2.imwrite(out_path, sheet)
    return sheet
