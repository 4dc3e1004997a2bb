"""Where the gate physically stands at any moment, replayed from the commands it was sent.

EVALUATION.md's physics, shared by the scheduler (to plan and to tell each passage where
its fish really went) and by the evaluator (to read a fish's fate from a gate log): the
gate starts at a route; a command to the route it stands at or is moving to changes
nothing; any other command starts a move of `travel_s`, during which the gate is
`wrong`: a fish meeting it then may go either way.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from fishgate.types import Route

# Two times this close are the same instant (frame / fps in floating point).
TIME_EPS = 1e-9
WRONG: Literal["wrong"] = "wrong"
Position = Route | Literal["wrong"]


class GateTimeline:
    def __init__(self, start: Route, travel_s: float, commands: Iterable[tuple[float, Route]] = ()) -> None:
        self.start: Route = start
        self.travel_s = travel_s
        self.moves: list[tuple[float, Route]] = []  # (time a move began, its route), in order
        self._target: Route = start
        for t, route in commands:
            self.command(t, route)

    @property
    def target(self) -> Route:
        """Where the gate stands or is going."""
        return self._target

    def command(self, t: float, route: Route) -> bool:
        """Record a command sent at time t; True if it started a move."""
        if route == self._target:
            return False
        self.moves.append((t, route))
        self._target = route
        return True

    def route_at(self, t: float) -> Position:
        """`tank` or `river` where the gate stands at time t, or `wrong` while it moves."""
        route, moved_at = self.start, float("-inf")
        for began, wanted in self.moves:
            if began > t + TIME_EPS:
                break
            route, moved_at = wanted, began
        return route if t - moved_at >= self.travel_s - TIME_EPS else WRONG

    def heading_at(self, t: float) -> Route:
        """Where the gate stands or is going at time t."""
        route = self.start
        for began, wanted in self.moves:
            if began > t + TIME_EPS:
                break
            route = wanted
        return route

    def settled_at(self, t: float) -> float:
        """When the move under way at time t ends (t itself if the gate stands still)."""
        last = max((began for began, _ in self.moves if began <= t + TIME_EPS), default=float("-inf"))
        return max(t, last + self.travel_s)
