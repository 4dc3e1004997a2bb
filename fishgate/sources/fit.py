"""Does the picture a source delivers fit the site's geometry?

Every length, the counting line and the gate's distance are in the site's pixels at
the site's frame rate. A video of another size or rate would be counted and timed
wrongly without a word (a 320-pixel video on a 640-pixel config loses every fish; a
1280-pixel one doubles every length), so `run` and `replay` refuse a mismatch.
"""

from __future__ import annotations

from fishgate.config import SiteConfig
from fishgate.errors import ConfigError

# Frame rates this close are the same (29.97 vs 30 is not a mismatch worth refusing).
FPS_TOLERANCE = 0.02


def check_fit(config: SiteConfig, width: int, fps_in_file: float | None, where: str) -> None:
    """Raise a one-line ConfigError if the source's frame width or the frame rate its
    file states disagree with the site config."""
    expected = config.geometry.frame_width
    if expected is not None and width != expected:
        raise ConfigError(
            f"{where}: the picture is {width} px wide but geometry.frame_width is {expected}: "
            "lengths, the counting line and the gate would all be wrong; record at the site's "
            "size, or make a config for this camera (px_per_cm, counting_line_x, frame_width)"
        )
    wanted = config.source.fps
    if wanted is not None and fps_in_file is not None and abs(fps_in_file - wanted) > FPS_TOLERANCE * wanted:
        raise ConfigError(
            f"{where}: the video says {fps_in_file:g} frames a second but source.fps is {wanted:g}: "
            "every speed and arrival would be off by their ratio; set source.fps to the video's rate"
        )
