"""`fishgate check --deep`: each thing the trap needs, tried for real; one line per check."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from fishgate.cli import main
from fishgate.config import bundled_path
from tests.helpers import site_config
from tests.mosquitto import Broker, free_port

DEMO = bundled_path("demo/chute-demo.mp4")


def _deep(site: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, str], str]:
    code = main(["check", "-c", str(site), "--deep"])
    out = capsys.readouterr()
    lines = {line.split()[1]: line for line in out.out.splitlines() if line.startswith(("ok  ", "FAIL"))}
    return code, lines, out.err


def _with(site: Path, old: str, new: str) -> Path:
    text = site.read_text()
    assert old in text
    site.write_text(text.replace(old, new))
    return site


def test_a_good_config_passes_every_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, lines, _ = _deep(site_config(tmp_path, DEMO), capsys)
    assert code == 0
    assert list(lines) == ["models", "camera", "storage", "broker", "gate"]
    assert all(line.startswith("ok") for line in lines.values())
    assert "5 frames of 640x360 at 25 fps" in lines["camera"]
    assert not list(tmp_path.glob(".fishgate-check-*"))  # the probe file is gone


def test_a_missing_model_is_one_line_and_non_zero(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    site = _with(
        site_config(tmp_path, DEMO), 'path = "bundled:models/species-int8.onnx"', 'path = "nope.onnx"'
    )
    code = main(["check", "-c", str(site), "--deep"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "nope.onnx" in err


def test_a_corrupt_model_fails_the_models_check_and_the_rest_still_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    model = tmp_path / "species.onnx"
    shutil.copy(bundled_path("models/species-int8.onnx"), model)
    shutil.copy(bundled_path("models/species-int8.json"), model.with_suffix(".json"))
    model.write_bytes(model.read_bytes()[:1000])
    site = _with(
        site_config(tmp_path, DEMO), 'path = "bundled:models/species-int8.onnx"', f'path = "{model}"'
    )
    code, lines, _ = _deep(site, capsys)
    assert code == 1
    assert lines["models"].startswith("FAIL") and "does not match its card" in lines["models"]
    assert all(lines[name].startswith("ok") for name in ("camera", "storage", "broker", "gate"))


@pytest.fixture
def read_only_folder(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A read-only filesystem (root writes through chmod, not through a read-only mount)."""
    folder = tmp_path / "ro"
    folder.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(folder)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a read-only tmpfs here: {done.stderr.decode().strip()}")
    yield folder
    subprocess.run(["umount", "-l", str(folder)], check=False)


def test_a_read_only_store_folder_is_refused_by_check_and_by_the_deep_storage_check(
    tmp_path: Path, read_only_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from fishgate.config import load_config
    from fishgate.deep_check import CheckFailed, check_storage

    site = site_config(tmp_path, DEMO)
    _with(site, f'path = "{tmp_path / "store.db"}"', f'path = "{read_only_folder / "store.db"}"')
    assert main(["check", "-c", str(site), "--deep"]) == 2  # the plain check already sees it
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is not writable (read-only or no permission)" in err
    with pytest.raises(CheckFailed, match=r"cannot write and fsync a file there \(Read-only file system\)"):
        check_storage(load_config(site))


def test_an_unreachable_broker_fails_the_broker_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    site = site_config(tmp_path, DEMO, extra=f'\n[mqtt]\nhost = "127.0.0.1"\nport = {free_port()}\n')
    code, lines, _ = _deep(site, capsys)
    assert code == 1 and lines["broker"].startswith("FAIL") and "connection refused" in lines["broker"]


def test_a_wrong_password_fails_against_a_real_mosquitto(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broker = Broker(tmp_path / "broker", users={"trap": "s3cret"}, tls=True)
    broker.folder.mkdir()
    broker.start()
    try:
        mqtt = (
            f'\n[mqtt]\nhost = "127.0.0.1"\nport = {broker.port}\nusername = "trap"\npassword = "%s"\n'
            f'[mqtt.tls]\nca_file = "{broker.ca_file}"\n'
        )
        code, lines, _ = _deep(site_config(tmp_path, DEMO, extra=mqtt % "s3cret"), capsys)
        assert (
            code == 0 and "connected to 127.0.0.1" in lines["broker"] and "TLS, as 'trap'" in lines["broker"]
        )
        code, lines, _ = _deep(site_config(tmp_path, DEMO, extra=mqtt % "wrong"), capsys)
        assert code == 1 and "refused the user name or password" in lines["broker"]
        assert "wrong" not in lines["broker"]
    finally:
        broker.stop()


def test_a_missing_ca_file_is_one_line_and_non_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    site = site_config(
        tmp_path, DEMO, extra='\n[mqtt]\nhost = "localhost"\n[mqtt.tls]\nca_file = "nope.pem"\n'
    )
    code = main(["check", "-c", str(site), "--deep"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "nope.pem" in err


def test_a_camera_that_does_not_open_fails_the_camera_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    site = _with(
        site_config(tmp_path, DEMO),
        f'kind = "file"\npath = "{DEMO}"',
        f'kind = "opencv"\nuri = "rtsp://127.0.0.1:{free_port()}/stream"\nwidth = 640\nheight = 360',
    )
    code, lines, _ = _deep(site, capsys)
    assert code == 1 and lines["camera"].startswith("FAIL")
    assert "rtsp://127.0.0.1" in lines["camera"]
    assert all(lines[name].startswith("ok") for name in ("models", "storage", "broker", "gate"))


def test_a_gate_without_a_pin_factory_fails_the_gate_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from gpiozero import Device

    monkeypatch.delenv("GPIOZERO_PIN_FACTORY", raising=False)
    monkeypatch.setattr(Device, "pin_factory", None)  # as on a machine that has none
    servo = "\n[gate.servo]\npin = 18\nriver_angle = -45\ntank_angle = 45\n"
    site = _with(
        site_config(tmp_path, DEMO, extra=servo),
        'kind = "recording"               # replay: record gate commands, drive no pins',
        'kind = "servo"',
    )
    code, lines, _ = _deep(site, capsys)
    assert code == 1 and lines["gate"].startswith("FAIL") and "[pi] extra" in lines["gate"]
