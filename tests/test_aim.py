"""`fishgate aim` and `fishgate calibrate`: the operator's first afternoon at the river."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from fishgate.aim import LINE, SCALE, px_per_cm_from
from fishgate.cli import main
from fishgate.config import bundled_path
from fishgate.errors import ConfigError
from tests.helpers import CHUTE_CONFIG, site_config

DEMO = bundled_path("demo/chute-demo.mp4")


def _aim(site: Path, out: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[np.ndarray, str]:
    assert main(["aim", "-c", str(site), "-o", str(out), *args]) == 0
    image = cv2.imread(str(out))
    assert image is not None
    return image, capsys.readouterr().out


def _scale_bar_px(image: np.ndarray) -> int:
    row = image[image.shape[0] - 16]
    white = np.flatnonzero((row == SCALE).all(axis=1))
    return int(white.max() - white.min())


def test_aim_draws_the_geometry_and_the_fish_with_their_lengths(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    image, out = _aim(site_config(tmp_path, DEMO), tmp_path / "aim.png", capsys, "--at", "3")
    assert image.shape == (360, 640, 3)
    assert (image[340, 352] == LINE).all()  # the counting line, where the config puts it
    assert _scale_bar_px(image) == round(10 * 2.6)  # 10 cm at 2.6 px/cm
    # frame 99 of the demo holds a farmed salmon and a sea trout, both whole
    lengths = [int(w) for w in out.split("fish found: ")[1].split("\n")[0].replace(" cm", "").split(", ")]
    assert len(lengths) == 2 and all(30 <= n <= 100 for n in lengths)
    assert "warning" not in out


def test_a_scale_ten_times_too_large_is_seen_at_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    site = site_config(tmp_path, DEMO)
    site.write_text(site.read_text().replace("px_per_cm = 2.6", "px_per_cm = 26"))
    image, out = _aim(site, tmp_path / "aim.png", capsys, "--at", "3")
    assert _scale_bar_px(image) == 260
    assert "warning: the fish found measure" in out and "px_per_cm is probably wrong" in out


def test_calibrate_prints_the_line_to_paste_and_compares_with_the_config(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["calibrate", "-c", str(CHUTE_CONFIG), "--points", "100,200,230,200", "--cm", "50"]) == 0
    out = capsys.readouterr().out
    assert "\npx_per_cm = 2.600\n" in out and "130.0 px over 50 cm" in out
    assert "the config has px_per_cm = 2.6 (+0.0% from this measurement)" in out
    assert main(["calibrate", "--points", "0,0,300,400", "--cm", "100"]) == 0
    assert "px_per_cm = 5.000" in capsys.readouterr().out  # a 3-4-5 triangle: 500 px


@pytest.mark.parametrize(
    ("points", "cm", "size", "phrase"),
    [
        ("100,200,105,200", 50, None, "5.0 px apart"),
        ("100,200,230,200", 0, None, "--cm: the known length must be a positive"),
        ("100,200,700,200", 50, (640, 360), "(700, 200) lies outside the 640x360 frame"),
    ],
)
def test_calibrate_refuses_what_cannot_be_a_measurement(
    points: str, cm: float, size: tuple[int, int] | None, phrase: str
) -> None:
    from fishgate.aim import parse_points

    with pytest.raises(ConfigError, match=phrase.replace("(", r"\(").replace(")", r"\)")):
        px_per_cm_from(parse_points(points), cm, size)


def test_calibrate_points_must_be_four_numbers(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["calibrate", "--points", "1,2,3", "--cm", "50"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "expected X1,Y1,X2,Y2" in err
