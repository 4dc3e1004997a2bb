"""A trap chute seen from the side, with fish swimming through it, frame by frame.

`plan_fish` decides who comes when (species, size, lane, speed, behaviour);
`fish_trajectory` simulates each fish's motion; `render_scene` draws the frames and
reports, per frame, where every fish is (`FishState`: its tight box, whether a fish
in front hides it). Everything is drawn from `SceneSpec.seed`, with a separate
random stream per purpose, so the same spec gives the same pixels and boxes, and the
background does not change when the fish do (`with_fish=False` renders the empty
chute of the same clip, for checking boxes against pixels).

Per frame cost is a handful of full-frame float operations: the water texture is
computed at 1/8 resolution and scaled up, sprites are drawn once per fish and tail
phase (fish.FishSprites) and alpha-blended into place.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import cv2
import numpy as np
import numpy.typing as npt

from fishgate.synth.fish import Colour, FishSprites, sample_look
from fishgate.types import Box

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
U8 = npt.NDArray[np.uint8]

BEHAVIOURS = ("pass", "turn", "hold", "downstream")
DIRECTION_OF = MappingProxyType(
    {"pass": "upstream", "hold": "upstream", "turn": "none", "downstream": "downstream"}
)
BOX_ALPHA = 0.5  # alpha above which a sprite pixel counts as fish for its box (half covered)
COVER_ALPHA = 0.5  # alpha above which a fish in front hides what is behind
OCCLUDED_SHARE = 0.2  # share of a box hidden by fish in front that makes it "occluded"

# Length ranges per species in cm (all within 40..95).
_LENGTH_CM: Mapping[str, tuple[float, float]] = MappingProxyType(
    {
        "atlantic_salmon": (50.0, 95.0),
        "sea_trout": (40.0, 80.0),
        "arctic_char": (40.0, 65.0),
        "pink_salmon": (40.0, 62.0),
        "farmed_salmon": (45.0, 85.0),
    }
)


def _weights(**kw: float) -> Mapping[str, float]:
    return MappingProxyType(kw)


_MIXED = _weights(atlantic_salmon=0.34, sea_trout=0.24, arctic_char=0.1, pink_salmon=0.16, farmed_salmon=0.16)
_MOSTLY_PASS = _weights(**{"pass": 0.84, "turn": 0.1, "hold": 0.03, "downstream": 0.03})


@dataclass(frozen=True, slots=True)
class ScenarioStyle:
    """How a scenario looks and who swims in it."""

    fish_per_minute: float
    water: Colour  # BGR of the open water
    species: Mapping[str, float] = field(default_factory=lambda: _MIXED)
    behaviour: Mapping[str, float] = field(default_factory=lambda: _MOSTLY_PASS)
    speed: tuple[float, float] = (4.0, 7.0)  # px per frame, upstream swimmers
    group: tuple[int, int] = (1, 1)  # fish per arrival
    texture: float = 0.09  # amplitude of the water's blotches
    noise: float = 2.2  # sensor noise, grey levels
    blur: float = 0.6  # optics, Gaussian sigma in px
    haze: float = 0.0  # silt: share of the haze colour mixed into everything
    glare: float = 0.0  # strength of sun caustics and cloud light changes
    leaves: int = 0
    bubbles: int = 0
    specks: int = 22
    ir: bool = False
    tint: float = 0.12  # water colour mixed into fish seen through the water column


SCENARIOS: Mapping[str, ScenarioStyle] = MappingProxyType(
    {
        "calm": ScenarioStyle(16, (124, 158, 122)),
        "turbid": ScenarioStyle(
            10, (92, 126, 124), texture=0.07, blur=1.5, haze=0.34, tint=0.2, specks=40, noise=2.5
        ),
        "crowded": ScenarioStyle(
            42,
            (126, 160, 130),
            group=(2, 3),
            behaviour=_weights(**{"pass": 0.84, "turn": 0.06, "hold": 0.05, "downstream": 0.05}),
        ),
        "debris": ScenarioStyle(8, (112, 146, 150), leaves=14, bubbles=90, specks=30),
        "behaviour": ScenarioStyle(
            12,
            (122, 154, 130),
            behaviour=_weights(**{"pass": 0.45, "turn": 0.2, "hold": 0.18, "downstream": 0.17}),
        ),
        "fast": ScenarioStyle(14, (134, 160, 128), speed=(8.5, 14.0)),
        "night_ir": ScenarioStyle(10, (140, 140, 140), ir=True, noise=5.5, texture=0.08, tint=0.05),
        "glare": ScenarioStyle(11, (104, 140, 132), glare=1.0, texture=0.1),
        "invasion": ScenarioStyle(
            48,
            (136, 148, 140),
            species=_weights(
                atlantic_salmon=0.08, sea_trout=0.07, arctic_char=0.03, pink_salmon=0.77, farmed_salmon=0.05
            ),
            group=(1, 3),
        ),
        "natives": ScenarioStyle(
            15, (122, 156, 126), species=_weights(atlantic_salmon=0.45, sea_trout=0.35, arctic_char=0.2)
        ),
    }
)


@dataclass(frozen=True, slots=True)
class SceneSpec:
    """One clip to render. `seconds` * `fps` frames of `width` x `height` pixels."""

    scenario: str
    seconds: float
    fps: int = 25
    width: int = 640
    height: int = 360
    seed: int = 0
    px_per_cm: float = 2.6
    counting_line_x: int = 352
    gate_distance_cm: float = 80.0
    fish_per_minute: float | None = None  # None: the scenario's own rate
    jpeg_quality: int | None = None  # re-encode each frame as JPEG for compression artefacts

    def __post_init__(self) -> None:
        if self.scenario not in SCENARIOS:
            raise ValueError(f"scenario: expected one of {tuple(SCENARIOS)}, got {self.scenario!r}")
        if not (math.isfinite(self.seconds) and self.seconds > 0):
            raise ValueError(f"seconds: expected a number > 0, got {self.seconds!r}")
        if self.fps <= 0 or self.width < 64 or self.height < 64:
            raise ValueError(f"fps, width, height: expected > 0, >= 64, >= 64, got {self}")
        if self.px_per_cm <= 0:
            raise ValueError(f"px_per_cm: expected > 0, got {self.px_per_cm!r}")
        if self.jpeg_quality is not None and not 1 <= self.jpeg_quality <= 100:
            raise ValueError(f"jpeg_quality: expected 1..100 or None, got {self.jpeg_quality!r}")

    @property
    def frames(self) -> int:
        return max(1, round(self.seconds * self.fps))

    @property
    def scenario_key(self) -> int:
        """A stable number for the scenario, so each scenario draws its own clip from a seed."""
        return zlib.crc32(self.scenario.encode())

    @property
    def style(self) -> ScenarioStyle:
        return SCENARIOS[self.scenario]

    @property
    def gate_x(self) -> float:
        """Where the gate is, in pixels along x (beyond the right edge)."""
        return self.width + self.gate_distance_cm * self.px_per_cm

    @property
    def water_band(self) -> tuple[float, float]:
        """Rows of open water between the dark bands at top and bottom."""
        return 0.058 * self.height, 0.855 * self.height


@dataclass(frozen=True, slots=True)
class FishPlan:
    """One fish of the clip, as planned before it is simulated."""

    track_id: int
    species: str
    length_cm: float
    enter_frame: int  # the snout is at the frame edge it enters from
    lane_y: float  # centre line, px from the top
    speed: float  # px per frame, always > 0; the behaviour says which way
    behaviour: str  # pass, turn, hold or downstream
    z: float  # drawing order: larger is nearer the camera
    stop_x: float | None  # snout x where a turn or hold begins
    hold_frames: int
    male_hump: bool
    seed: int  # of this individual's look and motion

    @property
    def direction(self) -> str:
        return DIRECTION_OF[self.behaviour]


@dataclass(frozen=True, slots=True, eq=False)
class Trajectory:
    """Where a fish's centre is at each frame from `start`, and how it is posed."""

    start: int
    cx: F64
    cy: F64
    facing: npt.NDArray[np.int8]
    squeeze: F64  # 1 = side on, small = end on (turning)
    phase: F64  # tail-beat phase, radians
    head_x: F64
    gate_arrival_s: float | None  # when the snout reaches the gate (upstream fish)

    @property
    def end(self) -> int:
        """Last frame of the trajectory (the fish is out of the picture there)."""
        return self.start + len(self.cx) - 1


@dataclass(frozen=True, slots=True)
class FishState:
    """One fish in one frame. `box` is None when the fish is wholly outside."""

    track_id: int
    species: str
    direction: str
    behaviour: str
    box: Box | None
    occluded: bool
    head_x: float
    facing: int

    @property
    def outside(self) -> bool:
        return self.box is None


# -- planning -----------------------------------------------------------------


def _choice(rng: np.random.Generator, weights: Mapping[str, float]) -> str:
    names = list(weights)
    p = np.array([weights[n] for n in names], np.float64)
    return names[int(rng.choice(len(names), p=p / p.sum()))]


def _half_height(length_px: float) -> float:
    # Tight boxes are 2.2..3 times as long as they are high; a hump adds a little.
    return length_px / 4.6


def _lane_limits(spec: SceneSpec, length_px: float) -> tuple[float, float]:
    top, bottom = spec.water_band
    half = _half_height(length_px) + 6  # + wobble
    lo, hi = top + half, bottom - half
    return (lo, hi) if lo < hi else ((top + bottom) / 2, (top + bottom) / 2)


def _free_lane(rng: np.random.Generator, spec: SceneSpec, length_px: float, busy: list[float]) -> float:
    """A lane far from the lanes of fish in the picture at the same time."""
    lo, hi = _lane_limits(spec, length_px)
    candidates = rng.uniform(lo, hi, 8)
    if not busy:
        return float(candidates[0])
    gaps = [min(abs(c - b) for b in busy) for c in candidates]
    return float(candidates[int(np.argmax(gaps))])


@dataclass(slots=True)
class _Planner:
    spec: SceneSpec
    rng: np.random.Generator
    plans: list[FishPlan] = field(default_factory=list)
    spans: list[tuple[int, int, float]] = field(default_factory=list)  # start, end, lane

    def busy(self, start: int, end: int) -> list[float]:
        return [lane for s, e, lane in self.spans if s <= end and start <= e]

    def make(self, enter: int, leader: FishPlan | None) -> FishPlan:
        spec, rng, style = self.spec, self.rng, self.spec.style
        species = _choice(rng, style.species)
        length_cm = float(np.clip(rng.uniform(*_LENGTH_CM[species]), 40.0, 95.0))
        length_px = length_cm * spec.px_per_cm
        behaviour = "pass" if leader is not None else _choice(rng, style.behaviour)
        speed = float(rng.uniform(*style.speed))
        if behaviour == "downstream":
            speed = float(rng.uniform(0.55, 0.9) * speed)
        if leader is not None:
            speed = leader.speed * float(rng.uniform(0.9, 1.1))
            lo, hi = _lane_limits(spec, length_px)
            offset = float(rng.choice([-1, 1]) * rng.uniform(0.5, 1.3) * _half_height(length_px))
            lane = float(np.clip(leader.lane_y + offset, lo, hi))
        else:
            span = int((spec.width + length_px) / speed)
            lane = _free_lane(rng, spec, length_px, self.busy(enter, enter + span))
        stop_x: float | None = None
        if behaviour == "turn":
            lo_x = max(0.55 * length_px, 0.18 * spec.width)
            stop_x = float(rng.uniform(lo_x, max(lo_x, spec.counting_line_x - 30)))
        elif behaviour == "hold":
            stop_x = float(rng.uniform(0.3, 0.85) * spec.width)
        return FishPlan(
            track_id=len(self.plans),
            species=species,
            length_cm=round(length_cm, 1),
            enter_frame=enter,
            lane_y=lane,
            speed=speed,
            behaviour=behaviour,
            z=float(rng.uniform()),
            stop_x=stop_x,
            hold_frames=int(rng.uniform(1.0, 4.0) * spec.fps) if behaviour == "hold" else 0,
            male_hump=bool(rng.random() < 0.5),
            seed=int(rng.integers(0, 2**31)),
        )

    def add(self, plan: FishPlan) -> bool:
        """Keep a fish if it is through the picture before the clip ends."""
        traj = fish_trajectory(plan, self.spec)
        if traj.end >= self.spec.frames:
            return False
        self.plans.append(plan)
        self.spans.append((traj.start, traj.end, plan.lane_y))
        return True


def plan_fish(spec: SceneSpec) -> list[FishPlan]:
    """Who swims through the clip. Only fish that are through the picture before the
    last frame are kept, so every track is complete; ids follow entry order."""
    style = spec.style
    rng = np.random.default_rng([spec.seed, 1, spec.scenario_key])
    planner = _Planner(spec, rng)
    rate = spec.fish_per_minute if spec.fish_per_minute is not None else style.fish_per_minute
    if rate <= 0:
        return []
    mean_group = sum(style.group) / 2
    mean_gap = 60.0 * spec.fps * mean_group / rate
    t = float(rng.uniform(0.0, 0.4) * spec.fps)
    while t < spec.frames:
        leader: FishPlan | None = None
        for _ in range(int(rng.integers(style.group[0], style.group[1] + 1))):
            enter = int(t) if leader is None else leader.enter_frame + int(rng.integers(3, 26))
            plan = planner.make(enter, leader)
            if planner.add(plan) and leader is None:
                leader = plan
        t += max(0.5 * spec.fps, float(rng.exponential(mean_gap)))
    ordered = sorted(planner.plans, key=lambda p: (p.enter_frame, p.track_id))
    return [_renumber(p, i) for i, p in enumerate(ordered)]


def _renumber(plan: FishPlan, track_id: int) -> FishPlan:
    return FishPlan(
        track_id,
        plan.species,
        plan.length_cm,
        plan.enter_frame,
        plan.lane_y,
        plan.speed,
        plan.behaviour,
        plan.z,
        plan.stop_x,
        plan.hold_frames,
        plan.male_hump,
        plan.seed,
    )


# -- motion -------------------------------------------------------------------


@dataclass(slots=True)
class _Swimmer:
    """Integrates one fish's motion a frame at a time."""

    length: float
    fps: float
    cx: float
    facing: int
    speed: float = 0.0  # signed px per frame
    squeeze: float = 1.0
    phase: float = 0.0
    rows: list[tuple[float, int, float, float]] = field(default_factory=list)

    @property
    def head(self) -> float:
        return self.cx + self.facing * self.squeeze * self.length / 2

    @property
    def tail_end(self) -> float:
        return self.cx - self.facing * self.length / 2

    def step(self, speed: float) -> None:
        self.speed = speed
        self.cx += speed
        beat_hz = min(1.1 + 0.3 * abs(speed), 4.5)
        self.phase += 2 * math.pi * beat_hz / self.fps
        self.rows.append((self.cx, self.facing, self.squeeze, self.phase))

    def ramp(self, target: float, frames: int) -> None:
        start = self.speed
        for k in range(1, frames + 1):
            self.step(start + (target - start) * k / frames)

    def cruise_until(self, v0: float, rng: np.random.Generator, done: float, width: float) -> None:
        """Swim at about v0 (gently surging while in view) until the snout passes `done`
        (upstream) or the tail passes `done` (downstream)."""
        period, offset = float(rng.uniform(40, 90)), float(rng.uniform(0, 2 * math.pi))
        k = 0
        while (self.head < done) if v0 > 0 else (self.tail_end > done):
            in_view = 0 < self.head < width
            surge = 1 + 0.06 * math.sin(2 * math.pi * k / period + offset) if in_view else 1.0
            self.step(v0 * surge)
            k += 1


def _swim_pass(sw: _Swimmer, plan: FishPlan, spec: SceneSpec, rng: np.random.Generator) -> None:
    if plan.behaviour == "hold" and plan.stop_x is not None:
        sw.cruise_until(plan.speed, rng, plan.stop_x, spec.width)
        sw.ramp(0.0, 12)
        drift = float(rng.uniform(0.3, 0.8))
        for k in range(plan.hold_frames):
            sw.step(drift * math.sin(2 * math.pi * k / 50))  # holding station against the flow
        sw.ramp(plan.speed, 20)
    # Steady after the snout leaves the picture: the gate arrival is then exact.
    sw.cruise_until(plan.speed, rng, spec.width, spec.width)
    while sw.tail_end <= spec.width + 1:
        sw.step(sw.speed)


def _swim_turn(sw: _Swimmer, plan: FishPlan, spec: SceneSpec, rng: np.random.Generator) -> None:
    assert plan.stop_x is not None
    brake = 10
    sw.cruise_until(plan.speed, rng, plan.stop_x - plan.speed * brake / 2, spec.width)
    sw.ramp(0.4, brake)
    turn = int(rng.integers(12, 22))
    for k in range(1, turn + 1):
        angle = math.pi * k / turn
        sw.squeeze = max(abs(math.cos(angle)), 0.1)
        if k > turn / 2:
            sw.facing = -1
        sw.step(0.0)
    sw.squeeze = 1.0
    sw.ramp(-plan.speed * float(rng.uniform(1.0, 1.4)), 10)
    while sw.tail_end >= -1:  # facing left now: the tail end is the right end
        sw.step(sw.speed)


def _swim_down(sw: _Swimmer, plan: FishPlan, spec: SceneSpec, rng: np.random.Generator) -> None:
    sw.speed = -plan.speed
    sw.cruise_until(-plan.speed, rng, -1.0, spec.width)


def _vertical(plan: FishPlan, spec: SceneSpec, n: int, rng: np.random.Generator) -> F64:
    """Centre line over time: a slow sway around the lane, kept inside the water."""
    k = np.arange(n, dtype=np.float64)
    amp, period = rng.uniform(2.0, 6.0), rng.uniform(40.0, 95.0)
    kernel = np.exp(-0.5 * (np.arange(-30, 31) / 10.0) ** 2)
    walk = np.pad(np.cumsum(rng.normal(0, 0.25, n)), 30, mode="edge")
    drift = np.convolve(walk, kernel / kernel.sum(), mode="valid")
    y = (
        plan.lane_y
        + amp * np.sin(2 * np.pi * k / period + rng.uniform(0, 2 * np.pi))
        + np.clip(drift, -10, 10)
    )
    lo, hi = _lane_limits(spec, plan.length_cm * spec.px_per_cm)
    return np.asarray(np.clip(y, lo - 6, hi + 6), np.float64)


def _gate_arrival(sw: _Swimmer, start: int, spec: SceneSpec, heads: F64) -> float:
    """Frame time at which the snout reaches the gate, extrapolating at exit speed."""
    gate = spec.gate_x
    hit = np.flatnonzero(heads >= gate)
    if hit.size:
        i = int(hit[0])
        if i == 0:
            return start / spec.fps
        frac = (gate - float(heads[i - 1])) / (float(heads[i]) - float(heads[i - 1]))
        return (start + i - 1 + frac) / spec.fps
    last = start + len(heads) - 1
    return (last + (gate - float(heads[-1])) / max(sw.speed, 1e-6)) / spec.fps


def fish_trajectory(plan: FishPlan, spec: SceneSpec) -> Trajectory:
    """Simulate one fish from the frame its snout reaches the edge to the frame it is gone."""
    rng = np.random.default_rng([plan.seed, 2])
    length = plan.length_cm * spec.px_per_cm
    downstream = plan.behaviour == "downstream"
    cx = spec.width + length / 2 if downstream else -length / 2
    sw = _Swimmer(length, spec.fps, cx, -1 if downstream else 1, phase=float(rng.uniform(0, 2 * math.pi)))
    sw.rows.append((sw.cx, sw.facing, sw.squeeze, sw.phase))
    if downstream:
        _swim_down(sw, plan, spec, rng)
    elif plan.behaviour == "turn":
        _swim_turn(sw, plan, spec, rng)
    else:
        _swim_pass(sw, plan, spec, rng)
    rows = np.array(sw.rows, np.float64)
    cxs, facing, squeeze = rows[:, 0], rows[:, 1].astype(np.int8), rows[:, 2]
    heads = cxs + facing * squeeze * length / 2
    arrival = _gate_arrival(sw, plan.enter_frame, spec, heads) if plan.direction == "upstream" else None
    return Trajectory(
        start=plan.enter_frame,
        cx=cxs,
        cy=_vertical(plan, spec, len(rows), rng),
        facing=facing,
        squeeze=squeeze,
        phase=rows[:, 3],
        head_x=heads,
        gate_arrival_s=arrival,
    )


# -- background ---------------------------------------------------------------


def periodic_noise(rng: np.random.Generator, h: int, w: int, scale: float) -> F32:
    """Smooth, tileable noise (std 1) with blobs about `scale` cells across."""
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    f = np.sqrt(fx**2 + fy**2)
    envelope = np.exp(-((f * scale) ** 2)) * (f > 0)
    spectrum = (rng.normal(size=f.shape) + 1j * rng.normal(size=f.shape)) * envelope
    field_ = np.fft.irfft2(spectrum, s=(h, w))
    return np.asarray((field_ - field_.mean()) / (field_.std() + 1e-9), np.float32)


class _Drifting:
    """A tileable low-resolution field that drifts and is scaled up to the frame."""

    def __init__(
        self,
        rng: np.random.Generator,
        shape: tuple[int, int],
        scale: float,
        velocity: tuple[float, float],
        out: tuple[int, int],
        cell: int,
    ) -> None:
        self.field = periodic_noise(rng, shape[0], shape[1], scale)
        self.velocity = velocity  # low-res cells per frame
        self.out = out  # (width, height) of the frame
        self.cell = cell

    def low(self, frame: int) -> F32:
        """The field at low resolution (one value per `cell` x `cell` pixels)."""
        w, h = self.out
        lw, lh = w // self.cell + 1, h // self.cell + 1
        m = np.array([[1, 0, self.velocity[0] * frame], [0, 1, self.velocity[1] * frame]], np.float32)
        low = cv2.warpAffine(self.field, m, (lw, lh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP)
        return np.asarray(low, np.float32)

    def at(self, frame: int) -> F32:
        return upscale(self.low(frame), self.out)


def upscale(low: F32, size: tuple[int, int]) -> F32:
    """A low-resolution field (or colour image) smoothly scaled to `size` (width, height)."""
    return np.asarray(cv2.resize(low, size, interpolation=cv2.INTER_CUBIC), np.float32)


class _Chute:
    """The empty chute: water texture, dark bands, posts. Same for a clip with or without fish."""

    def __init__(self, spec: SceneSpec, rng: np.random.Generator) -> None:
        style = spec.style
        self.spec = spec
        w, h = spec.width, spec.height
        jitter = rng.normal(0, 5, 3) if not style.ir else np.zeros(3)  # IR water stays grey
        water = (np.array(style.water, np.float64) + jitter).astype(np.float32)
        self.water = water
        self.water_colour: Colour = (float(water[0]), float(water[1]), float(water[2]))
        self.texture = style.texture
        self.blotch = [
            _Drifting(rng, (48, 96), 9.0, (0.035, 0.004), (w, h), 8),
            _Drifting(rng, (48, 96), 6.0, (0.06, -0.006), (w, h), 8),
        ]
        self.tint = _Drifting(rng, (48, 96), 14.0, (0.02, 0.0), (w, h), 8)
        self.hue = np.array([-4.0, 2.0, 3.0], np.float32)  # towards green-brown
        self.gain, self.add = self._structure(rng)

    def _structure(self, rng: np.random.Generator) -> tuple[F32, F32]:
        """Per-pixel gain and added colour of the fixed parts: bands, edges, posts."""
        spec = self.spec
        w, h = spec.width, spec.height
        gain = np.ones((h, w), np.float32)
        top, bottom = (round(v) for v in spec.water_band)
        gain[:top] = 0.74
        gain[bottom:] = 0.72
        gain[top : top + 1] = 0.86  # seams where the chute walls meet the water window
        gain[bottom - 1 : bottom + 1] = 1.08
        add = np.zeros((h, w, 3), np.float32)
        post_colour = self.water * 0.36
        for centre in (rng.uniform(0.09, 0.13) * w, rng.uniform(0.87, 0.93) * w):
            half = rng.uniform(3.5, 5.5) * w / 640
            xs = np.arange(w, dtype=np.float32)
            a = np.clip(half + 0.5 - np.abs(xs - centre), 0, 1) * 0.9  # soft edges
            gain *= 1 - a[None, :]
            add += (a[:, None] * post_colour)[None, :, :]
        return gain[..., None], add

    def frame(self, index: int) -> F32:
        # Colour is worked out at 1/8 resolution, then scaled up once: the texture is smooth.
        b0, b1 = (d.low(index) for d in self.blotch)
        lum = 1 + self.texture * (0.65 * b0 + 0.35 * b1)
        low = lum[..., None] * self.water[None, None, :]
        if not self.spec.style.ir:
            low += self.tint.low(index)[..., None] * self.hue
        img = upscale(np.asarray(low, np.float32), (self.spec.width, self.spec.height))
        np.multiply(img, self.gain, out=img)
        img += self.add
        return img


@dataclass(frozen=True, slots=True)
class _Drifters:
    """Things carried by the current (right to left): specks, bubbles, leaves."""

    x0: F64
    y0: F64
    vx: F64
    vy: F64
    size: F64
    angle0: F64
    spin: F64
    colour: npt.NDArray[np.float32]
    front: npt.NDArray[np.bool_]
    kind: str  # "dot" or "leaf"

    @staticmethod
    def make(rng: np.random.Generator, n: int, spec: SceneSpec, kind: str) -> _Drifters:
        top, bottom = spec.water_band
        if kind == "leaf":
            vx, vy = rng.uniform(-4.0, -1.2, n), rng.uniform(-0.15, 0.15, n)
            size = rng.uniform(5.0, 13.0, n)
            greens = np.array([[40, 78, 52], [34, 66, 96], [30, 52, 80], [46, 92, 70]], np.float32)
            colour = greens[rng.integers(0, len(greens), n)] * rng.uniform(0.8, 1.15, (n, 1)).astype(
                np.float32
            )
        elif kind == "bubble":
            vx, vy = rng.uniform(-4.0, -1.5, n), rng.uniform(-0.6, -0.1, n)
            size = rng.uniform(0.8, 2.4, n)
            colour = np.full((n, 3), 235, np.float32) * rng.uniform(0.85, 1.0, (n, 1)).astype(np.float32)
        else:
            vx, vy = rng.uniform(-1.2, -0.2, n), rng.uniform(-0.1, 0.1, n)
            size = rng.uniform(0.6, 1.6, n)
            colour = np.full((n, 3), 220, np.float32) * rng.uniform(0.8, 1.0, (n, 1)).astype(np.float32)
        return _Drifters(
            x0=rng.uniform(0, spec.width + 40, n),
            y0=rng.uniform(top, bottom, n),
            vx=vx,
            vy=vy,
            size=size,
            angle0=rng.uniform(0, 180, n),
            spin=rng.uniform(-3, 3, n),
            colour=colour,
            front=rng.random(n) < 0.5,
            kind="leaf" if kind == "leaf" else "dot",
        )

    def draw(self, img: F32, index: int, spec: SceneSpec, front: bool) -> None:
        top, bottom = spec.water_band
        xs = np.mod(self.x0 + self.vx * index, spec.width + 40) - 20
        ys = top + np.mod(self.y0 - top + self.vy * index + 3 * np.sin(index / 17 + self.x0), bottom - top)
        for i in np.flatnonzero(self.front == front):
            c = (float(self.colour[i, 0]), float(self.colour[i, 1]), float(self.colour[i, 2]))
            centre = (int(xs[i]), int(ys[i]))
            if self.kind == "leaf":
                axes = (max(1, int(self.size[i])), max(1, int(self.size[i] * 0.32)))
                angle = float(self.angle0[i] + self.spin[i] * index)
                cv2.ellipse(img, centre, axes, angle, 0, 360, c, -1)
            else:
                cv2.circle(img, centre, max(1, round(self.size[i])), c, -1)


class _Lighting:
    """Sun caustics, cloud light changes (glare) and silt haze (turbid)."""

    def __init__(self, spec: SceneSpec, rng: np.random.Generator) -> None:
        self.spec = spec
        style = spec.style
        w, h = spec.width, spec.height
        self.caustic = [
            _Drifting(rng, (32, 64), 2.4, (0.05, 0.025), (w, h), 8),
            _Drifting(rng, (32, 64), 2.8, (-0.035, 0.04), (w, h), 8),
        ]
        self.silt = _Drifting(rng, (32, 64), 5.0, (0.05, 0.01), (w, h), 8)
        self.cloud_phase = rng.uniform(0, 2 * np.pi, 3)
        self.haze_colour = np.array(style.water, np.float32) * np.float32(1.05)
        xs = (np.arange(w, dtype=np.float32) - w / 2) / w
        ys = (np.arange(h, dtype=np.float32) - h / 2) / h
        self.vignette = (1 - 0.55 * (xs[None, :] ** 2 + ys[:, None] ** 2 * 1.6)).astype(np.float32)

    def glare(self, img: F32, index: int, strength: float) -> None:
        t = index / self.spec.fps
        p = self.cloud_phase
        cloud = 1 + 0.12 * math.sin(t / 3.1 + p[0]) + 0.07 * math.sin(t / 1.3 + p[1])
        edge_x = (0.5 + 0.6 * math.sin(t / 5.0 + p[2])) * self.spec.width
        xs = np.arange(self.spec.width, dtype=np.float32)
        shadow = 1 - 0.12 * (1 + np.tanh((xs - edge_x) / 120.0))  # a cloud's soft shadow edge
        a, b = (c.at(index) for c in self.caustic)
        web = np.exp(-(((a + b) / 0.3) ** 2))  # bright where the two wave fields cancel
        gain = cloud * shadow[None, :] * (1 + 0.45 * strength * web * (0.6 + 0.4 * a))
        img *= gain[..., None]

    def haze(self, img: F32, index: int, amount: float) -> None:
        h = amount * (0.85 + 0.25 * self.silt.at(index))
        h = np.clip(h, 0, 0.9)[..., None]
        img *= 1 - h
        img += h * self.haze_colour


class _Noise:
    """A bank of Gaussian noise, cut at a different offset each frame."""

    PAD = 32

    def __init__(self, spec: SceneSpec, rng: np.random.Generator, channels: int) -> None:
        self.spec = spec
        shape = (spec.height + self.PAD, spec.width + self.PAD) + ((channels,) if channels > 1 else ())
        self.bank = [rng.normal(0, spec.style.noise, shape).astype(np.float32) for _ in range(3)]

    def at(self, index: int) -> F32:
        r = np.random.default_rng([self.spec.seed, 3, index])
        k, dy, dx = int(r.integers(0, 3)), int(r.integers(0, self.PAD)), int(r.integers(0, self.PAD))
        return self.bank[k][dy : dy + self.spec.height, dx : dx + self.spec.width]


# -- fish in the frame --------------------------------------------------------


@dataclass(slots=True)
class _Placed:
    plan: FishPlan
    x0: int
    y0: int
    alpha: F32  # the part of the sprite inside the frame
    box: Box | None
    head_x: float
    facing: int


def _blend(img: F32, pm: F32, a: F32, x0: int, y0: int) -> tuple[int, int, F32]:
    """Alpha-blend a premultiplied sprite with its top-left at (x0, y0); returns the
    clipped offset and alpha."""
    h, w = img.shape[:2]
    sx0, sy0 = max(0, -x0), max(0, -y0)
    ex, ey = min(a.shape[1], w - x0), min(a.shape[0], h - y0)
    if ex <= sx0 or ey <= sy0:
        return x0, y0, np.zeros((0, 0), np.float32)
    pm_c, a_c = pm[sy0:ey, sx0:ex], a[sy0:ey, sx0:ex]
    region = img[y0 + sy0 : y0 + ey, x0 + sx0 : x0 + ex]
    region *= 1 - a_c[..., None]
    region += pm_c
    return x0 + sx0, y0 + sy0, a_c


def _tight_box(alpha: F32, x0: int, y0: int) -> Box | None:
    if alpha.size == 0:
        return None
    cols = np.flatnonzero(alpha.max(axis=0) > BOX_ALPHA)
    rows = np.flatnonzero(alpha.max(axis=1) > BOX_ALPHA)
    if cols.size == 0 or rows.size == 0:
        return None
    return Box(float(x0 + cols[0]), float(y0 + rows[0]), float(x0 + cols[-1] + 1), float(y0 + rows[-1] + 1))


def _occluded(me: _Placed, front: list[_Placed]) -> bool:
    """Whether fish drawn after `me` hide more than OCCLUDED_SHARE of its box."""
    box = me.box
    if box is None:
        return False
    bx1, by1, bx2, by2 = int(box.x1), int(box.y1), int(box.x2), int(box.y2)
    cover: npt.NDArray[np.bool_] | None = None
    for other in front:
        ob = other.box
        if ob is None or ob.x1 >= bx2 or ob.x2 <= bx1 or ob.y1 >= by2 or ob.y2 <= by1:
            continue
        if cover is None:
            cover = np.zeros((by2 - by1, bx2 - bx1), bool)
        ix1, iy1 = max(bx1, other.x0), max(by1, other.y0)
        ix2 = min(bx2, other.x0 + other.alpha.shape[1])
        iy2 = min(by2, other.y0 + other.alpha.shape[0])
        if ix2 <= ix1 or iy2 <= iy1:
            continue
        part = other.alpha[iy1 - other.y0 : iy2 - other.y0, ix1 - other.x0 : ix2 - other.x0] > COVER_ALPHA
        cover[iy1 - by1 : iy2 - by1, ix1 - bx1 : ix2 - bx1] |= part
    return cover is not None and float(cover.mean()) > OCCLUDED_SHARE


class SceneRenderer:
    """Renders a `SceneSpec` frame by frame; see `render_scene`."""

    def __init__(self, spec: SceneSpec, *, with_fish: bool = True) -> None:
        self.spec = spec
        style = spec.style
        streams = np.random.SeedSequence([spec.seed, 5, spec.scenario_key]).spawn(5)
        self.chute = _Chute(spec, np.random.default_rng(streams[0]))
        self.lighting = _Lighting(spec, np.random.default_rng(streams[1]))
        drift_rng = np.random.default_rng(streams[2])
        self.drifters = [
            _Drifters.make(drift_rng, style.specks, spec, "speck"),
            _Drifters.make(drift_rng, style.bubbles, spec, "bubble"),
            _Drifters.make(drift_rng, style.leaves, spec, "leaf"),
        ]
        self.noise = _Noise(spec, np.random.default_rng(streams[3]), 1 if style.ir else 3)
        self.plans = plan_fish(spec) if with_fish else []
        self.trajectories = {p.track_id: fish_trajectory(p, spec) for p in self.plans}
        self._sprites: dict[int, FishSprites] = {}

    def sprites(self, plan: FishPlan) -> FishSprites:
        hit = self._sprites.get(plan.track_id)
        if hit is None:
            rng = np.random.default_rng([plan.seed, 1])
            look = sample_look(plan.species, rng, male_hump=plan.male_hump)
            style = self.spec.style
            hit = FishSprites(
                look,
                plan.length_cm * self.spec.px_per_cm,
                ir=style.ir,
                tint=self.chute.water_colour,
                tint_amount=style.tint,
            )
            self._sprites[plan.track_id] = hit
        return hit

    def _place(self, img: F32, plan: FishPlan, index: int) -> _Placed:
        traj = self.trajectories[plan.track_id]
        k = index - traj.start
        facing = int(traj.facing[k])
        pm, a = self.sprites(plan).get(float(traj.phase[k]), facing, float(traj.squeeze[k]))
        x0 = round(float(traj.cx[k]) - a.shape[1] / 2)
        y0 = round(float(traj.cy[k]) - a.shape[0] / 2)
        cx0, cy0, visible = _blend(img, pm, a, x0, y0)
        return _Placed(plan, cx0, cy0, visible, _tight_box(visible, cx0, cy0), float(traj.head_x[k]), facing)

    def _fish(self, img: F32, index: int) -> list[FishState]:
        active = [
            p
            for p in self.plans
            if self.trajectories[p.track_id].start <= index <= self.trajectories[p.track_id].end
        ]
        for done in [tid for tid in self._sprites if self.trajectories[tid].end < index]:
            del self._sprites[done]  # keep memory flat over long clips
        placed = [self._place(img, p, index) for p in sorted(active, key=lambda p: p.z)]
        states = []
        for i, me in enumerate(placed):
            p = me.plan
            states.append(
                FishState(
                    p.track_id,
                    p.species,
                    p.direction,
                    p.behaviour,
                    me.box,
                    _occluded(me, placed[i + 1 :]),
                    me.head_x,
                    me.facing,
                )
            )
        return sorted(states, key=lambda s: s.track_id)

    def render(self, index: int) -> tuple[U8, list[FishState]]:
        """Frame `index` (frames must be asked for in order for fish sprites to be freed)."""
        spec, style = self.spec, self.spec.style
        img = self.chute.frame(index)
        for d in self.drifters:
            d.draw(img, index, spec, front=False)
        states = self._fish(img, index)
        for d in self.drifters:
            d.draw(img, index, spec, front=True)
        if style.glare:
            self.lighting.glare(img, index, style.glare)
        if style.haze:
            self.lighting.haze(img, index, style.haze)
        return self._finish(img, index), states

    def _finish(self, img: F32, index: int) -> U8:
        """Optics and sensor: blur, noise, 8 bits, optional JPEG artefacts."""
        style = self.spec.style
        if style.ir:
            grey = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY) * self.lighting.vignette * np.float32(1.15)
            grey = cv2.GaussianBlur(grey, (0, 0), style.blur) + self.noise.at(index)
            out = cv2.cvtColor(np.clip(grey, 0, 255).astype(np.uint8), cv2.COLOR_GRAY2BGR)
        else:
            img = cv2.GaussianBlur(img, (0, 0), style.blur) + self.noise.at(index)
            out = np.clip(img, 0, 255).astype(np.uint8)
        if self.spec.jpeg_quality is not None:
            ok, data = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, self.spec.jpeg_quality])
            decoded = cv2.imdecode(data, cv2.IMREAD_COLOR) if ok else None
            if decoded is not None:
                out = decoded
                if style.ir:  # JPEG's chroma rounding must not tint a grey picture
                    out = cv2.cvtColor(cv2.cvtColor(out, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
        return np.asarray(out, np.uint8)

    def frames(self) -> Iterator[tuple[U8, list[FishState]]]:
        for index in range(self.spec.frames):
            yield self.render(index)


def render_scene(spec: SceneSpec, *, with_fish: bool = True) -> Iterator[tuple[U8, list[FishState]]]:
    """Frames of the clip, each with the state of every fish whose trajectory spans it
    (fish at the entry edge with nothing in view yet have `box` None)."""
    return SceneRenderer(spec, with_fish=with_fish).frames()
