"""Which way a fish crossed the counting line, decided from its extent and the borders.

A box centre is no estimate of where a fish is when the fish fills the frame: a salmon
longer than the picture enters cut by one border and leaves cut by the other, and its
box centre sits near the middle the whole time. supervision's `LineZone` counts a box
once all its anchor points have crossed the line; here the box's own edges play that
part, and a border that cuts the box says the fish goes on beyond it.

Each observation of a track puts the fish on a side of the line:

- *downstream* when its upstream edge is short of the line (a box cut by the downstream
  border only reaches further downstream: still downstream);
- *upstream* when its downstream edge is past the line;
- otherwise it straddles the line: nothing definite.

The fish's first side is that of its first observation or, if that straddles, the
border it came in through (cut by the downstream border only: it came from downstream),
or failing both where its box centre was. Its last side is found the same way from the
end: its last observation, the border it left through, its centre. A fish counts once,
in the direction from its first side to its last; a fish that ends on the side it came
from (turned back, however long it milled across the line) does not count.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from fishgate.types import Box
from fishgate.vision.tracker import border_px as border_tolerance

Direction = Literal["upstream", "downstream"]
UP, DOWN = 1, -1


class CountingLine:
    """The counting line of a site: x = `line_x`, upstream towards `upstream_sign` (+1: +x)."""

    def __init__(
        self, line_x: float, upstream_sign: int, frame_width: float, border_px: float | None = None
    ) -> None:
        if upstream_sign not in (1, -1):
            raise ValueError(f"CountingLine.upstream_sign: expected +1 or -1, got {upstream_sign}")
        if not 0 < line_x < frame_width:
            raise ValueError(
                f"CountingLine.line_x: expected inside the frame (0..{frame_width}), got {line_x}"
            )
        self.line_x = line_x
        self.sign = upstream_sign
        self.frame_width = frame_width
        # a box edge this close to a border is cut by it (the tracker's own tolerance)
        self.border_px = border_px if border_px is not None else border_tolerance(frame_width)

    def crossing(self, boxes: Sequence[Box]) -> Direction | None:
        """The direction a fish seen as `boxes` (in time order) crossed the line, or None."""
        if not boxes:
            return None
        first = self._side_at_end(boxes[0])
        last = self._side_at_end(boxes[-1])
        if first == last:
            return None
        return "upstream" if last == UP else "downstream"

    def side(self, box: Box) -> int | None:
        """UP or DOWN if the whole visible fish (and what a border hides of it) lies on that
        side of the line; None while it straddles the line."""
        down_edge, up_edge = self._edges(box)
        if (up_edge - self.line_x) * self.sign < 0:
            return DOWN
        if (down_edge - self.line_x) * self.sign > 0:
            return UP
        return None

    def _side_at_end(self, box: Box) -> int:
        side = self.side(box)
        if side is not None:
            return side
        through = self._border(box)
        if through is not None:
            return through  # came in from / went out to the side of the border that cuts it
        return UP if (box.center[0] - self.line_x) * self.sign >= 0 else DOWN

    def _edges(self, box: Box) -> tuple[float, float]:
        """(downstream edge, upstream edge) of the box."""
        return (box.x1, box.x2) if self.sign > 0 else (box.x2, box.x1)

    def _border(self, box: Box) -> int | None:
        """UP or DOWN if the box is cut by that side's border only; None if by both or neither."""
        left = box.x1 <= self.border_px
        right = box.x2 >= self.frame_width - self.border_px
        if left == right:
            return None
        at_right = UP if self.sign > 0 else DOWN
        return at_right if right else -at_right


class MidlineCounter:
    """The naive rule, for comparison: a track counts once if its box centre ends on the
    other side of the line from where it began."""

    def __init__(self, line_x: float, upstream_sign: int) -> None:
        self.line_x = line_x
        self.sign = upstream_sign

    def crossing(self, boxes: Sequence[Box]) -> Direction | None:
        if not boxes:
            return None
        start = (boxes[0].center[0] - self.line_x) * self.sign
        end = (boxes[-1].center[0] - self.line_x) * self.sign
        if start < 0 <= end:
            return "upstream"
        if end < 0 <= start:
            return "downstream"
        return None
