"""Aiming the camera and measuring px_per_cm: what the operator does on the first day.

`aim_picture` draws on a frame from the configured source what the config says
about it: the counting line, which way is upstream, where the gate is, a 10 cm scale
bar from `px_per_cm`, and the fish the detector finds with the length each would be
given. A wrong `px_per_cm` shows at once as fish of implausible length.
`px_per_cm_from` measures it from two points a known distance apart (a ruler or a
marked board held in the chute, picked on the aim picture).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from fishgate.config import SiteConfig
from fishgate.errors import ConfigError
from fishgate.types import Detection

# BGR colours, chosen to stand out on dark water
LINE = (0, 215, 255)  # counting line: amber
ARROW = (80, 220, 80)  # upstream: green
SCALE = (255, 255, 255)  # scale bar: white
FISH = (255, 160, 40)  # detector boxes: blue
WARN = (60, 60, 255)  # red
PLAUSIBLE_CM = (15.0, 150.0)  # the fish a salmon trap sorts, smolt to the largest salmon


@dataclass(frozen=True)
class FishSeen:
    detection: Detection
    length_cm: float

    @property
    def whole(self) -> bool:
        """Not cut by the frame's edge: only a whole fish has a length to judge the scale by."""
        return not self.detection.edge_cut

    @property
    def plausible(self) -> bool:
        return not self.whole or PLAUSIBLE_CM[0] <= self.length_cm <= PLAUSIBLE_CM[1]


def fish_seen(detections: list[Detection], px_per_cm: float) -> list[FishSeen]:
    """Each detection with its length as the config's scale makes it (a fish swims along x)."""
    return [FishSeen(d, d.box.width / px_per_cm) for d in detections]


def aim_picture(image: np.ndarray, config: SiteConfig, fish: list[FishSeen]) -> np.ndarray:
    """A copy of `image` with the config's geometry and the fish drawn on it."""
    out = image.copy()
    height, width = out.shape[:2]
    g = config.geometry
    x = round(g.counting_line_x)
    cv2.line(out, (x, 0), (x, height - 1), LINE, 2)
    _label(out, f"counting line x={g.counting_line_x:g}", (x + 6, 22), LINE)
    # upstream arrow along the top, pointing the way fish leave the chute for the gate
    left, right = width // 2 - 60, width // 2 + 60
    start, end = ((left, 44), (right, 44)) if g.upstream == "+x" else ((right, 44), (left, 44))
    cv2.arrowedLine(out, start, end, ARROW, 3, tipLength=0.25)
    _label(out, "upstream", (width // 2 - 34, 68), ARROW)
    if g.upstream == "+x":
        _label(out, f"gate {g.gate_distance_cm:g} cm ->", (width - 150, height // 2), ARROW)
    else:
        _label(out, f"<- gate {g.gate_distance_cm:g} cm", (6, height // 2), ARROW)
    # 10 cm scale bar, bottom left
    bar = round(10 * g.px_per_cm)
    y = height - 16
    # filled rectangles and 1 px ticks: the bar spans exactly `bar` px, end to end
    cv2.rectangle(out, (10, y - 1), (10 + bar, y + 1), SCALE, cv2.FILLED)
    for end_x in (10, 10 + bar):
        cv2.line(out, (end_x, y - 6), (end_x, y + 6), SCALE, 1)
    _label(out, f"10 cm = {bar} px", (10, y - 12), SCALE)
    for seen in fish:
        b = seen.detection.box
        colour = FISH if seen.plausible else WARN
        cv2.rectangle(out, (round(b.x1), round(b.y1)), (round(b.x2), round(b.y2)), colour, 2)
        text = f"{seen.length_cm:.0f} cm" if seen.whole else "at the edge"
        _label(out, text, (round(b.x1), max(14, round(b.y1) - 6)), colour)
    return out


def _label(image: np.ndarray, text: str, at: tuple[int, int], colour: tuple[int, int, int]) -> None:
    # a dark outline keeps the text readable on bright glare
    cv2.putText(image, text, at, cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(image, text, at, cv2.FONT_HERSHEY_SIMPLEX, 0.5, colour, 1, cv2.LINE_AA)


def scale_advice(fish: list[FishSeen], px_per_cm: float) -> str | None:
    """A line for the operator when the fish found are not fish-sized at this scale."""
    whole = [f for f in fish if f.whole]
    odd = [f for f in whole if not f.plausible]
    if not whole or len(odd) * 2 < len(whole):
        return None
    lengths = ", ".join(f"{f.length_cm:.0f}" for f in whole)
    return (
        f"the fish found measure {lengths} cm at px_per_cm = {px_per_cm:g}, outside "
        f"{PLAUSIBLE_CM[0]:g}-{PLAUSIBLE_CM[1]:g} cm: px_per_cm is probably wrong; measure it with "
        "`fishgate calibrate --points X1,Y1,X2,Y2 --cm LENGTH`"
    )


def parse_points(text: str) -> tuple[float, float, float, float]:
    """'X1,Y1,X2,Y2' -> four numbers."""
    parts = text.split(",")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        raise ConfigError(f"--points: expected X1,Y1,X2,Y2 (four numbers, pixels), got {text!r}")
    return values[0], values[1], values[2], values[3]


def px_per_cm_from(
    points: tuple[float, float, float, float], cm: float, frame_size: tuple[int, int] | None = None
) -> float:
    """The scale from two points `cm` apart in the chute."""
    x1, y1, x2, y2 = points
    if not (math.isfinite(cm) and cm > 0):
        raise ConfigError(f"--cm: the known length must be a positive number of cm, got {cm:g}")
    if frame_size is not None:
        width, height = frame_size
        for x, y in ((x1, y1), (x2, y2)):
            if not (0 <= x < width and 0 <= y < height):
                raise ConfigError(
                    f"--points: ({x:g}, {y:g}) lies outside the {width}x{height} frame; pick both points "
                    "on the aim picture"
                )
    distance = math.hypot(x2 - x1, y2 - y1)
    if distance < 10:
        raise ConfigError(
            f"--points: the two points are {distance:.1f} px apart; pick the two ends of the known length "
            "(at least 10 px apart, the further the better)"
        )
    return distance / cm
