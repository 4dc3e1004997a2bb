"""Side-view sprites of the five salmonids at the trap, drawn from their field marks.

A fish is drawn at `SS` times its size with OpenCV polygons and shrunk by area
averaging, which anti-aliases every edge and mark alike. The traits that make an
individual (depth, tone, spots, fin shapes) are drawn once from the caller's
generator into a `FishLook`, so every tail-beat phase shows the same fish.

Sprites face right (+x, upstream) unless `facing` is -1. Their canvas is centred on
the fish's mid-length and centre line, so flipping or squeezing it (a fish turning
towards the camera) keeps the anchor where it was.

Layers, back to front: tail fin (the only part that moves with the tail beat),
median and pelvic fins, body with its shading and marks, pectoral fin.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from fishgate.types import SPECIES

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
U8 = npt.NDArray[np.uint8]
Colour = tuple[float, float, float]  # BGR, 0..255

SS = 3  # supersampling factor
PHASES = 8  # tail-beat phases pre-rendered per fish
NOSE = 0.012  # snout tip ahead of the body profile, as a fraction of length
# Near-infrared reflectance: red-ish surfaces (a char's belly) come out brighter.
IR_WEIGHTS = np.array([0.15, 0.35, 0.50], np.float32)


@dataclass(frozen=True, slots=True)
class Spot:
    """One mark. On the body t runs nose 0 .. wrist 1 and v back 0 .. belly 1;
    on the tail t runs wrist 0 .. tip 1 and v upper tip -1 .. lower tip +1."""

    t: float
    v: float
    size: float  # fraction of the fish's length
    kind: str  # "x", "round", "halo", "pale", "oval"
    angle: float  # degrees


@dataclass(frozen=True, slots=True)
class FishLook:
    """Everything that makes one individual look the way it does, at any size."""

    species: str
    aspect: float  # total length / deepest body depth
    peduncle: float  # depth at the wrist / deepest depth
    body_end: float  # where the tail fin starts, fraction of length from the nose
    deepest_at: float  # where the body is deepest, fraction of body length
    back_share: float  # share of the depth above the centre line
    hump: float  # extra back height / depth (pink salmon males)
    snout: float  # bluntness of the snout, fraction of depth
    tail_span: float  # tail fin height / depth
    fork: float  # fork depth / length; <= 0 is a square tail
    fin_height: float  # scales every fin
    fin_sweep: float  # how far fins point back, fraction of body length
    ragged: float  # 0 intact fins .. 1 eroded (farmed)
    back: Colour
    flank: Colour
    belly: Colour
    fin: Colour
    spots: tuple[Spot, ...]
    tail_spots: tuple[Spot, ...]
    fray: tuple[float, ...]  # erosion per fin-edge vertex, fixed so all phases agree
    seed: int  # for the fine scale texture

    @property
    def male(self) -> bool:
        return self.hump > 0


@dataclass(frozen=True, slots=True)
class _Traits:
    aspect: float
    peduncle: float
    fork: float
    tail_span: float
    back: Colour
    flank: Colour
    belly: Colour
    fin: Colour
    ragged: float = 0.0
    body_end: float = 0.80
    fin_height: float = 1.0


_TRAITS: dict[str, _Traits] = {
    # Silvery with a steel-blue back, slim wrist.
    "atlantic_salmon": _Traits(
        4.15, 0.30, 0.035, 1.05, (112, 92, 72), (214, 208, 200), (238, 238, 234), (96, 88, 80)
    ),
    # Browner, brassier flanks; a thick wrist and square tail.
    "sea_trout": _Traits(
        3.95, 0.46, -0.004, 1.0, (78, 96, 104), (164, 186, 198), (210, 226, 234), (74, 84, 92)
    ),
    # Dark olive back, orange-red belly.
    "arctic_char": _Traits(4.1, 0.34, 0.03, 1.0, (66, 80, 70), (96, 112, 110), (48, 104, 226), (60, 66, 72)),
    # Blue-green back, silvery to pinkish sides.
    "pink_salmon": _Traits(
        3.95, 0.30, 0.045, 1.1, (98, 94, 64), (198, 194, 204), (228, 228, 234), (64, 66, 70)
    ),
    # Salmon colours on a deeper body with worn fins.
    "farmed_salmon": _Traits(
        3.5,
        0.36,
        0.02,
        0.88,
        (110, 100, 88),
        (206, 204, 200),
        (236, 236, 236),
        (104, 102, 100),
        ragged=1.0,
        body_end=0.84,
        fin_height=0.7,
    ),
}


# Where each fin reads its erosion pattern in FishLook.fray (the tail uses 20..40).
_FRAY_OFFSET = {"dorsal": 0, "adipose": 11, "pelvic": 42, "anal": 53, "pectoral": 30}


def _check_species(species: str) -> None:
    if species not in SPECIES:
        raise ValueError(f"species: expected one of {SPECIES}, got {species!r}")


def _jitter(rng: np.random.Generator, colour: Colour, tone: float, spread: float = 6.0) -> Colour:
    b, g, r = (float(np.clip(c * tone + rng.normal(0, spread), 0, 255)) for c in colour)
    return (b, g, r)


def _mix(a: Colour, b: Colour, f: float) -> Colour:
    return (a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f, a[2] + (b[2] - a[2]) * f)


def _spots(
    rng: np.random.Generator,
    n: int,
    t: tuple[float, float],
    v: tuple[float, float],
    size: tuple[float, float],
    kinds: Sequence[str],
    weights: Sequence[float] | None = None,
) -> list[Spot]:
    out = []
    for _ in range(n):
        kind = str(rng.choice(list(kinds), p=weights))
        out.append(
            Spot(
                float(rng.uniform(*t)),
                float(rng.uniform(*v)),
                float(rng.uniform(*size)),
                kind,
                float(rng.uniform(-30, 30)),
            )
        )
    return out


def _salmon_spots(rng: np.random.Generator) -> tuple[list[Spot], list[Spot]]:
    # Sparse X marks, above the lateral line only; a few on the gill cover.
    body = _spots(rng, int(rng.integers(7, 18)), (0.16, 0.70), (0.10, 0.40), (0.016, 0.024), ["x"])
    gill = _spots(rng, int(rng.integers(1, 4)), (0.10, 0.16), (0.30, 0.50), (0.012, 0.018), ["x"])
    return body + gill, []


def _trout_spots(rng: np.random.Generator) -> tuple[list[Spot], list[Spot]]:
    # Many round spots, above and below the lateral line, some with pale halos.
    n = int(rng.integers(34, 60))
    above = _spots(rng, n * 3 // 5, (0.07, 0.90), (0.06, 0.46), (0.007, 0.012), ["round", "halo"], [0.7, 0.3])
    below = _spots(rng, n - len(above), (0.15, 0.80), (0.50, 0.80), (0.006, 0.011), ["round", "halo"])
    return above + below, []


def _char_spots(rng: np.random.Generator) -> tuple[list[Spot], list[Spot]]:
    # Pale spots on the dark back and flank.
    return _spots(rng, int(rng.integers(26, 48)), (0.14, 0.95), (0.10, 0.62), (0.007, 0.011), ["pale"]), []


def _pink_spots(rng: np.random.Generator) -> tuple[list[Spot], list[Spot]]:
    # Large oval black spots on the back and on both tail lobes.
    back = _spots(rng, int(rng.integers(10, 20)), (0.22, 1.0), (0.0, 0.30), (0.020, 0.034), ["oval"])
    upper = _spots(rng, int(rng.integers(3, 7)), (0.25, 0.85), (-0.85, -0.2), (0.016, 0.026), ["oval"])
    lower = _spots(rng, int(rng.integers(3, 7)), (0.25, 0.85), (0.2, 0.85), (0.016, 0.026), ["oval"])
    return back, upper + lower


def _farmed_spots(rng: np.random.Generator) -> tuple[list[Spot], list[Spot]]:
    # Many spots, also well below the lateral line.
    n = int(rng.integers(30, 56))
    above = _spots(rng, n // 2, (0.10, 0.85), (0.08, 0.45), (0.012, 0.02), ["x", "round"], [0.6, 0.4])
    below = _spots(rng, n - len(above), (0.14, 0.80), (0.50, 0.78), (0.010, 0.017), ["x", "round"])
    return above + below, []


_SPOTTERS: dict[str, Callable[[np.random.Generator], tuple[list[Spot], list[Spot]]]] = {
    "atlantic_salmon": _salmon_spots,
    "sea_trout": _trout_spots,
    "arctic_char": _char_spots,
    "pink_salmon": _pink_spots,
    "farmed_salmon": _farmed_spots,
}


def _colours(species: str, rng: np.random.Generator, tr: _Traits) -> tuple[Colour, Colour, Colour, Colour]:
    tone = float(rng.normal(1.0, 0.05))
    back, flank, belly, fin = (_jitter(rng, c, tone) for c in (tr.back, tr.flank, tr.belly, tr.fin))
    if species == "pink_salmon" and rng.random() < 0.5:
        flank = _mix(flank, (176, 150, 212), float(rng.uniform(0.4, 0.8)))  # spawning blush
    if species == "arctic_char":
        belly = _mix(belly, (50, 64, 206), float(rng.uniform(0.0, 0.7)))  # orange to deep red
    if species == "sea_trout":
        flank = _mix(flank, (200, 204, 206), float(rng.uniform(0.0, 0.6)))  # fresh-run trout are silvery
    return back, flank, belly, fin


def sample_look(species: str, rng: np.random.Generator, *, male_hump: bool | None = None) -> FishLook:
    """Draw one individual of `species`. `male_hump` applies to pink salmon only
    (None: a coin toss); other species never have a hump."""
    _check_species(species)
    tr = _TRAITS[species]
    male = species == "pink_salmon" and (bool(rng.random() < 0.5) if male_hump is None else male_hump)
    back, flank, belly, fin = _colours(species, rng, tr)
    spots, tail_spots = _SPOTTERS[species](rng)
    return FishLook(
        species=species,
        aspect=float(rng.normal(tr.aspect, 0.15)) + (0.25 if male else 0.0),
        peduncle=float(np.clip(rng.normal(tr.peduncle, 0.025), 0.22, 0.55)),
        body_end=tr.body_end + float(rng.uniform(-0.01, 0.01)),
        deepest_at=float(rng.uniform(0.34, 0.42)),
        back_share=float(rng.uniform(0.50, 0.56)),
        hump=float(rng.uniform(0.22, 0.34)) if male else 0.0,
        snout=float(rng.uniform(0.12, 0.18)),
        tail_span=tr.tail_span * float(rng.uniform(0.92, 1.08)),
        fork=tr.fork + float(rng.uniform(-0.006, 0.006)),
        fin_height=tr.fin_height * float(rng.uniform(0.85, 1.15)),
        fin_sweep=float(rng.uniform(0.02, 0.07)),
        ragged=tr.ragged * float(rng.uniform(0.7, 1.0)),
        back=back,
        flank=flank,
        belly=belly,
        fin=fin,
        spots=tuple(spots),
        tail_spots=tuple(tail_spots),
        fray=tuple(float(x) for x in rng.uniform(0, 1, 64)),
        seed=int(rng.integers(0, 2**31)),
    )


def _tail_root(look: FishLook) -> Colour:
    """Colour where the tail fin meets the body."""
    return _mix(_mix(look.back, look.flank, 0.5), look.fin, 0.45)


def _bezier(p0: F64, p1: F64, p2: F64, n: int = 8) -> F64:
    """Points of a quadratic Bezier curve from p0 to p2 pulled towards p1."""
    s = np.linspace(0.0, 1.0, n)[:, None]
    return np.asarray((1 - s) ** 2 * p0 + 2 * (1 - s) * s * p1 + s**2 * p2, np.float64)


def _ss(points: F64) -> npt.NDArray[np.int32]:
    """Sprite pixels to supersampled integer points for cv2 (pixel centres at +0.5)."""
    return np.round(points * SS - 0.5).astype(np.int32)


class _Geometry:
    """Outline of one individual at one length, in sprite pixels (not supersampled)."""

    def __init__(self, look: FishLook, length_px: float) -> None:
        self.look = look
        self.length = length_px
        self.depth = length_px / look.aspect
        d = self.depth
        up = d * (look.back_share + look.hump) + d * 0.45 * look.fin_height
        down = d * (1 - look.back_share) + d * 0.32 * look.fin_height
        tail = d * look.tail_span / 2
        half = max(up, down, tail) + 2
        self.width = math.ceil(length_px) + 4
        self.height = 2 * math.ceil(half) + 2
        self.cx = self.width / 2
        self.cy = self.height / 2
        self.tip = self.cx + length_px / 2  # snout tip; the tail tip is at cx - length/2

    def x(self, t: F64 | float) -> F64:
        span = self.look.body_end - NOSE
        return np.asarray(self.tip - self.length * (NOSE + np.asarray(t) * span), np.float64)

    def t_of_x(self, x: F64) -> F64:
        span = self.look.body_end - NOSE
        return np.asarray(((self.tip - x) / self.length - NOSE) / span, np.float64)

    def _profile(self, t: F64) -> F64:
        lk = self.look
        m = lk.deepest_at
        front = lk.snout + (1 - lk.snout) * np.sin(0.5 * np.pi * np.clip(t / m, 0, 1)) ** 0.7
        rear = lk.peduncle + (1 - lk.peduncle) * np.cos(0.5 * np.pi * np.clip((t - m) / (1 - m), 0, 1)) ** 1.3
        return np.asarray(np.where(t <= m, front, rear), np.float64)

    def top(self, t: F64 | float) -> F64:
        t = np.asarray(t, np.float64)
        lk = self.look
        hump = lk.hump * np.exp(-(((t - 0.36) / 0.17) ** 2)) * np.clip(t / 0.12, 0, 1)
        return np.asarray(self.cy - self.depth * (lk.back_share * self._profile(t) + hump), np.float64)

    def bottom(self, t: F64 | float) -> F64:
        t = np.asarray(t, np.float64)
        return np.asarray(self.cy + self.depth * (1 - self.look.back_share) * self._profile(t), np.float64)

    def point(self, t: float, v: float) -> F64:
        top, bottom = float(self.top(t)), float(self.bottom(t))
        return np.array([float(self.x(t)), top + v * (bottom - top)], np.float64)

    def body_outline(self) -> F64:
        t = np.linspace(0.0, 1.0, 70)
        upper = np.stack([self.x(t), self.top(t)], axis=1)
        lower = np.stack([self.x(t[::-1]), self.bottom(t[::-1])], axis=1)
        mid = (float(self.top(0.0)) + float(self.bottom(0.0))) / 2 + 0.04 * self.depth
        nose = np.array([[self.tip, mid]])
        return np.concatenate([nose, upper, lower])


def _fin_polygon(base0: F64, base1: F64, tip: F64, bulge: float, fray: Sequence[float], ragged: float) -> F64:
    """A fin from its front base point over its tip to its rear base point.

    The leading edge bows outwards by `bulge`, the trailing edge in; an eroded fin
    is cut back towards its base with a ragged trailing edge.
    """
    if ragged > 0:
        tip = base0 + (tip - base0) * (1 - 0.35 * ragged * (0.6 + 0.4 * fray[0]))
    edge = tip - base0
    outward = np.array([-edge[1], edge[0]])
    outward = outward if outward[0] >= 0 else -outward  # towards the snout
    lead_ctrl = (base0 + tip) / 2 + bulge * outward
    trail_ctrl = (tip + base1) / 2 + 0.12 * ((base0 + base1) / 2 - (tip + base1) / 2)
    lead = _bezier(base0, lead_ctrl, tip)
    trail = _bezier(tip, trail_ctrl, base1, 10)
    if ragged > 0:
        pull = np.array(fray[1 : len(trail) + 1]) * 0.22 * ragged
        trail = trail + (np.mean([base0, base1], axis=0) - trail) * pull[:, None]
    return np.concatenate([lead, trail[1:]])


class _Drawing:
    """Draws one individual at one length: a fixed front layer and a tail per phase."""

    def __init__(self, look: FishLook, length_px: float) -> None:
        if not (math.isfinite(length_px) and length_px >= 8):
            raise ValueError(f"length_px: expected a finite number >= 8, got {length_px!r}")
        self.look = look
        self.g = _Geometry(look, length_px)
        self.shape_ss = (self.g.height * SS, self.g.width * SS)
        self.front_pm, self.front_a = self._front()

    # -- helpers -------------------------------------------------------------
    def _mask(self, polygons: Sequence[F64], shape: tuple[int, int] | None = None) -> U8:
        mask = np.zeros(shape or self.shape_ss, np.uint8)
        cv2.fillPoly(mask, [_ss(p) for p in polygons], 255, cv2.LINE_8)
        return mask

    def _shrink(self, colour: F32, alpha: F32) -> tuple[F32, F32]:
        """Supersampled straight colour + alpha -> sprite-size premultiplied colour + alpha."""
        size = (alpha.shape[1] // SS, alpha.shape[0] // SS)
        pm = cv2.resize(colour * alpha[..., None], size, interpolation=cv2.INTER_AREA)
        a = cv2.resize(alpha, size, interpolation=cv2.INTER_AREA)
        return np.asarray(pm, np.float32), np.asarray(a, np.float32)

    def _px(self, fraction: float, minimum: float) -> int:
        """A size given as a fraction of the length, in supersampled pixels."""
        return max(1, round(max(fraction * self.g.length, minimum) * SS))

    # -- front layer ---------------------------------------------------------
    def _front(self) -> tuple[F32, F32]:
        colour = np.zeros((*self.shape_ss, 3), np.float32)
        alpha = np.zeros(self.shape_ss, np.float32)
        self._fins_behind(colour, alpha)
        body = self._mask([self.g.body_outline()]) > 0
        shaded = self._shading()
        self._marks(shaded, body)
        colour[body] = shaded[body]
        alpha[body] = 1.0
        self._head(colour)
        self._pectoral(colour, alpha)
        return self._shrink(colour, alpha)

    def _shading(self) -> F32:
        """Countershaded body colour: dark back, shining flank, pale belly."""
        lk, g = self.look, self.g
        h, w = self.shape_ss
        xs = (np.arange(w) + 0.5) / SS
        ys = (np.arange(h) + 0.5) / SS
        t = np.clip(g.t_of_x(xs), 0.0, 1.0)
        top, bottom = g.top(t), g.bottom(t)
        v = np.clip((ys[:, None] - top[None, :]) / np.maximum(bottom - top, 1e-3)[None, :], 0, 1)
        belly_from = 0.56 if lk.species == "arctic_char" else 0.64
        stops = [0.0, 0.22, 0.42, belly_from, belly_from + 0.16, 1.0]
        back_dark = _mix(lk.back, (0, 0, 0), 0.2)
        palette = [back_dark, lk.back, _mix(lk.back, lk.flank, 0.85), lk.flank, lk.belly, lk.belly]
        out = np.empty((h, w, 3), np.float32)
        for ch in range(3):
            out[..., ch] = np.interp(v, stops, [c[ch] for c in palette])
        silvery = 0.4 if lk.species in ("arctic_char", "sea_trout") else 1.0
        out += (26 * silvery * np.exp(-(((v - 0.44) / 0.09) ** 2)))[..., None]  # specular stripe
        out *= (1 - 0.10 * t)[None, :, None]  # darker towards the wrist
        wrist = np.clip((t - 0.84) / 0.16, 0, 1)[None, :, None] * 0.8  # flank fades into the tail
        out = np.asarray(out * (1 - wrist) + np.array(_tail_root(lk), np.float32) * wrist, np.float32)
        grain = np.random.default_rng(lk.seed).normal(0, 0.03, (h // SS + 1, w // SS + 1)).astype(np.float32)
        out *= (1 + cv2.resize(grain, (w, h), interpolation=cv2.INTER_LINEAR))[..., None]
        return np.asarray(np.clip(out, 0, 255), np.float32)

    def _marks(self, img: F32, body: npt.NDArray[np.bool_]) -> None:
        """Spots and lateral line, kept inside the body outline."""
        lk, g = self.look, self.g
        dark = np.zeros(self.shape_ss, np.uint8)
        pale = np.zeros(self.shape_ss, np.uint8)
        halo = np.zeros(self.shape_ss, np.uint8)
        for s in lk.spots:
            self._spot(dark, pale, halo, g.point(s.t, s.v), s)
        t = np.linspace(0.16, 1.0, 40)
        lat = np.stack([g.x(t), g.top(t) + 0.47 * (g.bottom(t) - g.top(t))], axis=1)
        line = np.zeros(self.shape_ss, np.uint8)
        cv2.polylines(line, [_ss(lat)], False, 255, self._px(0.004, 0.7), cv2.LINE_8)
        self._paint(img, line, body, _mix(lk.flank, (40, 40, 40), 0.35), 0.7)
        pale_colour: Colour = (200, 215, 232) if lk.species == "arctic_char" else (215, 222, 226)
        self._paint(img, halo, body, pale_colour, 0.4)
        self._paint(img, pale, body, pale_colour, 0.95)
        self._paint(img, dark, body, (28, 28, 30), 0.92)

    @staticmethod
    def _paint(img: F32, layer: U8, within: npt.NDArray[np.bool_], colour: Colour, strength: float) -> None:
        m = (layer > 0) & within
        img[m] = img[m] * (1 - strength) + np.array(colour, np.float32) * strength

    def _spot(self, dark: U8, pale: U8, halo: U8, at: F64, s: Spot) -> None:
        c = tuple(int(v) for v in np.round(at * SS - 0.5))
        centre = (c[0], c[1])
        if s.kind == "x":
            r = self._px(s.size / 2, 1.6)
            thick = self._px(s.size / 6, 0.6)
            for angle in (45 + s.angle / 3, -45 + s.angle / 3):
                dx, dy = r * math.cos(math.radians(angle)), r * math.sin(math.radians(angle))
                p0 = (round(centre[0] - dx), round(centre[1] - dy))
                p1 = (round(centre[0] + dx), round(centre[1] + dy))
                cv2.line(dark, p0, p1, 255, thick, cv2.LINE_8)
        elif s.kind == "oval":
            a = self._px(s.size / 2, 2.2)
            cv2.ellipse(dark, centre, (a, max(1, round(a * 0.6))), s.angle / 2, 0, 360, 255, -1)
        elif s.kind == "pale":
            cv2.circle(pale, centre, self._px(s.size / 2, 1.0), 255, -1)
        else:
            r = self._px(s.size / 2, 1.1)
            if s.kind == "halo":
                cv2.circle(halo, centre, round(r * 1.5), 255, -1)
            cv2.circle(dark, centre, r, 255, -1)

    def _fin_specs(self) -> dict[str, tuple[F64, F64, F64, float]]:
        """(front base, rear base, tip, bulge) of each fin."""
        g, lk = self.g, self.look
        d, h, sw = g.depth, lk.fin_height, lk.fin_sweep

        def top(t: float, dy: float = 0.0) -> F64:
            return np.array([float(g.x(t)), float(g.top(t)) + dy])

        def bot(t: float, dy: float = 0.0) -> F64:
            return np.array([float(g.x(t)), float(g.bottom(t)) + dy])

        return {
            "dorsal": (top(0.38, 2), top(0.52, 2), top(0.50 + sw, -0.42 * d * h), 0.12),
            "adipose": (top(0.86, 1), top(0.93, 1), top(0.945, -0.09 * d), 0.3),
            "pelvic": (bot(0.53, -3), bot(0.62, -3), bot(0.64 + sw / 2, 0.26 * d * h), 0.1),
            "anal": (bot(0.75, -3), bot(0.87, -3), bot(0.86 + sw / 2, 0.30 * d * h), 0.1),
            "pectoral": (g.point(0.18, 0.62), g.point(0.21, 0.92), bot(0.34 + sw / 2, 0.10 * d * h), 0.14),
        }

    def _fin_colour(self, name: str) -> Colour:
        lk = self.look
        if lk.species == "arctic_char" and name in ("pectoral", "pelvic", "anal"):
            return _mix(lk.belly, (30, 30, 40), 0.25)
        if name == "pectoral":
            return _mix(lk.fin, lk.flank, 0.35)
        return lk.fin

    def _draw_fin(self, colour: F32, alpha: F32, name: str, opacity: float) -> None:
        base0, base1, tip, bulge = self._fin_specs()[name]
        fray = self.look.fray[_FRAY_OFFSET[name] :]
        poly = _fin_polygon(base0, base1, tip, bulge, fray, self.look.ragged)
        mask = self._mask([poly]) > 0
        colour[mask] = self._fin_colour(name)
        alpha[mask] = np.maximum(alpha[mask], opacity)
        if self.look.species == "arctic_char" and name in ("pectoral", "pelvic", "anal"):
            # The char's mark: a bright white leading edge on the lower fins.
            lead = np.zeros(self.shape_ss, np.uint8)
            cv2.polylines(lead, [_ss(np.stack([base0, tip]))], False, 255, self._px(0.009, 1.3), cv2.LINE_8)
            edge = (lead > 0) & mask
            colour[edge] = (245, 248, 250)

    def _fins_behind(self, colour: F32, alpha: F32) -> None:
        for name in ("dorsal", "adipose", "pelvic", "anal"):
            self._draw_fin(colour, alpha, name, 0.93)

    def _pectoral(self, colour: F32, alpha: F32) -> None:
        self._draw_fin(colour, alpha, "pectoral", 0.95)

    def _head(self, colour: F32) -> None:
        """Gill cover, eye and mouth."""
        g, lk = self.g, self.look
        # The gill cover's rear edge bows back towards the tail.
        gill = np.array(
            [
                g.point(0.16, v) - np.array([0.022 * g.length * math.sin(math.pi * v), 0.0])
                for v in np.linspace(0.2, 0.9, 9)
            ]
        )
        cv2.polylines(colour, [_ss(gill)], False, _mix(lk.flank, (30, 30, 30), 0.55), self._px(0.004, 0.8))
        mouth_end = g.point(0.085, 0.62)
        nose = np.array([g.tip - 0.2, float(g.point(0.0, 0.58)[1])])
        if lk.species == "pink_salmon":
            # Dark mouth: a black gape and dark jaws.
            jaw = np.stack([nose, mouth_end, g.point(0.10, 0.80), g.point(0.03, 0.86), g.point(0.0, 0.72)])
            cv2.fillPoly(colour, [_ss(jaw)], (44, 40, 48))
            lip = np.stack([g.point(0.0, 0.35), g.point(0.05, 0.50), mouth_end])
            cv2.polylines(colour, [_ss(lip)], False, (30, 28, 34), self._px(0.008, 1.0))
        cv2.polylines(colour, [_ss(np.stack([nose, mouth_end]))], False, (22, 22, 26), self._px(0.006, 0.8))
        eye = g.point(0.06, 0.38)
        c = tuple(int(v) for v in np.round(eye * SS - 0.5))
        cv2.circle(colour, (c[0], c[1]), self._px(0.017, 2.0), (150, 190, 200), -1)
        cv2.circle(colour, (c[0], c[1]), self._px(0.012, 1.4), (12, 12, 14), -1)

    # -- tail ----------------------------------------------------------------
    def tail(self, phase: float) -> tuple[F32, F32]:
        """The tail fin at one beat phase. Seen from the side the beat swings the fin
        towards and away from the camera, so it shortens and tilts a little."""
        g, lk = self.g, self.look
        squeeze = 0.8 + 0.2 * abs(math.cos(phase))
        tilt = 0.05 * g.depth * math.sin(phase)
        root_x = float(g.x(1.0)) + 0.02 * g.length
        root_y = (float(g.top(1.0)) + float(g.bottom(1.0))) / 2
        root_h = (float(g.bottom(1.0)) - float(g.top(1.0))) / 2
        reach = (root_x - (g.cx - g.length / 2)) * (1 - 0.2 * lk.ragged)
        span = g.depth * lk.tail_span / 2 * (1 - 0.12 * lk.ragged)
        w = np.linspace(-1.0, 1.0, 21)
        depth = lk.fork * g.length / reach
        dx = reach * (1 - depth * (1 - np.abs(w) ** 1.5))
        if lk.ragged:
            dx = dx * (1 - 0.28 * lk.ragged * np.array(lk.fray[20:41]) * (np.abs(w) < 0.95))
        edge = np.stack([root_x - dx * squeeze, root_y + w * span + tilt * (dx / reach) ** 2], axis=1)
        root_top = np.array([root_x, root_y - root_h])
        root_bot = np.array([root_x, root_y + root_h])
        upper = _bezier(root_top, np.array([root_x - 0.45 * reach * squeeze, root_y - root_h * 1.1]), edge[0])
        lower = _bezier(
            edge[-1], np.array([root_x - 0.45 * reach * squeeze, root_y + root_h * 1.1]), root_bot
        )
        poly = np.concatenate([upper, edge[1:-1], lower])
        # Only the sprite's tail end is drawn: the fin never reaches past its root.
        width = min(self.g.width, math.ceil(root_x + 0.03 * g.length) + 2)
        shape = (self.shape_ss[0], width * SS)
        mask = self._mask([poly], shape) > 0
        xs = (np.arange(shape[1], dtype=np.float32) + 0.5) / SS
        f = np.sqrt(np.clip((root_x - xs) / max(reach * squeeze, 1.0), 0, 1))[:, None]
        ramp = np.array(_tail_root(lk), np.float32) * (1 - f) + np.array(lk.fin, np.float32) * f
        colour = np.where(mask[..., None], ramp[None, :, :], np.float32(0)).astype(np.float32)
        alpha = (mask * np.float32(0.94)).astype(np.float32)
        dark = np.zeros(shape, np.uint8)
        for s in lk.tail_spots:
            at = np.array([root_x - s.t * reach * squeeze, root_y + s.v * span + tilt * s.t**2])
            self._spot(dark, dark, dark, at, s)
        self._paint(colour, dark, mask, (20, 20, 22), 0.95)
        part_pm, part_a = self._shrink(colour, alpha)
        pm = np.zeros((self.g.height, self.g.width, 3), np.float32)
        a = np.zeros((self.g.height, self.g.width), np.float32)
        pm[:, :width], a[:, :width] = part_pm, part_a
        return pm, a

    def compose(self, phase: float) -> tuple[F32, F32]:
        """Premultiplied BGR and alpha of the whole fish, front layer over the tail."""
        tail_pm, tail_a = self.tail(phase)
        keep = 1 - self.front_a
        pm = self.front_pm + tail_pm * keep[..., None]
        return np.asarray(pm, np.float32), np.asarray(self.front_a + tail_a * keep, np.float32)


def to_ir(pm: F32) -> F32:
    """Grey (B = G = R) version of a premultiplied BGR sprite or frame, as an IR camera sees it."""
    grey = pm @ IR_WEIGHTS
    return np.repeat(grey[..., None], 3, axis=2).astype(np.float32)


def unpremultiply(pm: F32, alpha: F32) -> U8:
    safe = np.maximum(alpha, 1e-6)[..., None]
    bgr = np.where(alpha[..., None] > 1e-6, pm / safe, 0.0)
    return np.clip(np.round(bgr), 0, 255).astype(np.uint8)


class FishSprites:
    """Every tail-beat phase of one individual, premultiplied, ready to blend.

    `tint` mixes `tint_amount` of the water colour into the fish, as seen through
    the water column. Flipped and squeezed versions are made on first use and kept.
    """

    def __init__(
        self,
        look: FishLook,
        length_px: float,
        *,
        ir: bool = False,
        phases: int = PHASES,
        tint: Colour | None = None,
        tint_amount: float = 0.0,
    ) -> None:
        drawing = _Drawing(look, length_px)
        self.look = look
        self.length_px = length_px
        self.n = phases
        self._phases: list[tuple[F32, F32]] = []
        for k in range(phases):
            pm, a = drawing.compose(2 * math.pi * k / phases)
            if tint is not None and tint_amount > 0:
                pm = pm * (1 - tint_amount) + np.array(tint, np.float32) * (tint_amount * a[..., None])
            if ir:
                pm = to_ir(pm)
            self._phases.append((np.ascontiguousarray(pm, np.float32), a))
        self._cache: dict[tuple[int, int, int], tuple[F32, F32]] = {}

    def index(self, phase: float) -> int:
        return math.floor((phase % (2 * math.pi)) / (2 * math.pi) * self.n) % self.n

    def get(self, phase: float, facing: int = 1, squeeze: float = 1.0) -> tuple[F32, F32]:
        """(premultiplied BGR, alpha) at a beat phase, facing +1 (right) or -1 (left),
        squeezed along x to `squeeze` of its length (0.1..1, a fish turning)."""
        k = self.index(phase)
        sq = round(min(max(squeeze, 0.1), 1.0) * 20)
        key = (k, 1 if facing >= 0 else -1, sq)
        hit = self._cache.get(key)
        if hit is None:
            pm, a = self._phases[k]
            if sq < 20:
                new_w = max(2, round(pm.shape[1] * sq / 20))
                pm = np.asarray(
                    cv2.resize(pm, (new_w, pm.shape[0]), interpolation=cv2.INTER_AREA), np.float32
                )
                a = np.asarray(cv2.resize(a, (new_w, a.shape[0]), interpolation=cv2.INTER_AREA), np.float32)
            if key[1] < 0:
                pm, a = pm[:, ::-1], a[:, ::-1]
            hit = (np.ascontiguousarray(pm, np.float32), np.ascontiguousarray(a, np.float32))
            self._cache[key] = hit
        return hit


def render_fish(
    species: str,
    length_px: float,
    *,
    rng: np.random.Generator,
    facing: int = +1,
    ir: bool = False,
    male_hump: bool | None = None,
) -> tuple[U8, F32]:
    """One fish of `species`, `length_px` long from snout to tail tip: a BGR uint8
    sprite and a float32 alpha mask (0..1) of the same height and width."""
    look = sample_look(species, rng, male_hump=male_hump)
    pm, alpha = _Drawing(look, length_px).compose(float(rng.uniform(0, 2 * math.pi)))
    if ir:
        pm = to_ir(pm)
    if facing < 0:
        pm, alpha = pm[:, ::-1], alpha[:, ::-1]
    return unpremultiply(np.ascontiguousarray(pm), np.ascontiguousarray(alpha)), np.ascontiguousarray(alpha)
