"""`fishgate review` in a real headless Chromium: the list, a correction by keyboard, the
counts it changes, its review row and MQTT message, and the season's charts.

The store is made by replaying sample footage through the whole pipeline (the bundled
demo, plus two annotated clips of ../shared/footage when they are there).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from fishgate.cli import main
from fishgate.config import bundled_path
from fishgate.review.app import Desk
from fishgate.review.serve import make_review_server
from fishgate.store import PassageStore
from tests import browser
from tests.helpers import FOOTAGE, site_config
from tests.mosquitto import Broker, Subscriber

SHARED_CLIPS = ("crowded-02.mp4", "invasion-02.mp4")


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store (and its site config) holding the passages of replayed sample footage."""
    folder = tmp_path_factory.mktemp("replayed")
    videos = [
        bundled_path("demo/chute-demo.mp4"),
        *(FOOTAGE / n for n in SHARED_CLIPS if (FOOTAGE / n).is_file()),
    ]
    for video in videos:
        assert main(["run", "-c", str(site_config(folder, video))]) == 0
    return folder / "site.toml"


@dataclass(frozen=True)
class Served:
    url: str
    store: Path  # the copy the desk serves (and writes reviews into)


@pytest.fixture
def desk(replayed: Path, tmp_path: Path) -> Iterator[Served]:
    """The review desk over a copy of the replayed store, served on a free local port."""
    import shutil

    folder = tmp_path / "desk"
    shutil.copytree(replayed.parent, folder)
    site = folder / "site.toml"  # the copy's config names the copy's store
    site.write_text(site.read_text().replace(str(replayed.parent), str(folder)))
    store = folder / "store.db"
    served = Desk(store, folder / "snapshots", ZoneInfo("Europe/Oslo"), "chute-sample")
    server = make_review_server(served, "127.0.0.1:0")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield Served(f"http://127.0.0.1:{server.server_address[1]}", store)
    server.shutdown()
    server.server_close()


@pytest.fixture
def chromium() -> Iterator[object]:
    yield from browser.chromium()


def _counts(driver: object) -> dict[str, tuple[int, int]]:
    """species -> (upstream as detected, upstream as reviewed), read off the page."""
    from selenium.webdriver.common.by import By

    rows = driver.find_elements(By.CSS_SELECTOR, "#counts tr[data-species]")  # type: ignore[attr-defined]
    return {
        r.get_attribute("data-species"): (
            int(r.find_element(By.CLASS_NAME, "detected-up").text),
            int(r.find_element(By.CLASS_NAME, "reviewed-up").text),
        )
        for r in rows
    }


def test_a_biologist_filters_corrects_a_fish_by_keyboard_and_sees_the_season(
    desk: Served, chromium: object, tmp_path: Path, broker: Broker
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    driver: object = chromium
    wait = WebDriverWait(driver, 15)  # type: ignore[arg-type]
    driver.get(desk.url + "/passages")  # type: ignore[attr-defined]
    passages = driver.find_elements(By.CSS_SELECTOR, "#passages tr.passage")  # type: ignore[attr-defined]
    assert len(passages) >= 8
    thumbs = driver.execute_script(  # type: ignore[attr-defined]
        "return [...document.querySelectorAll('#passages img')].filter(i => i.complete && i.naturalWidth > 0).length"
    )
    assert thumbs >= 1
    browser.screenshot(driver, "review-passages", tmp_path)
    before = _counts(driver)

    # low confidence first: the fish most worth a look
    below = driver.find_element(By.ID, "below")  # type: ignore[attr-defined]
    below.clear()
    below.send_keys("0.999")
    driver.find_element(By.CSS_SELECTOR, "input[name=order]").click()  # type: ignore[attr-defined]
    driver.find_element(By.ID, "apply").click()  # type: ignore[attr-defined]
    wait.until(ec.url_contains("below=0.999"))
    shown = [float(e.text) for e in driver.find_elements(By.CSS_SELECTOR, "#passages td.confidence")]  # type: ignore[attr-defined]
    assert shown and all(c < 0.999 for c in shown) and shown == sorted(shown)

    first = driver.find_element(By.CSS_SELECTOR, "#passages tr.passage")  # type: ignore[attr-defined]
    passage_id = first.get_attribute("data-id")
    detected = first.find_element(By.CLASS_NAME, "species").text.split(" ")[0]
    first.find_element(By.TAG_NAME, "a").click()
    wait.until(ec.presence_of_element_located((By.ID, "review")))
    browser.screenshot(driver, "review-passage", tmp_path)
    # a species other than the detected one, by its key (1-5 in SPECIES order)
    from fishgate.review.app import KEYS

    key, corrected = next((k, s) for k, s in KEYS.items() if s not in (detected, "unknown", "not_fish"))
    driver.find_element(By.ID, "reviewer").send_keys("Kari")  # type: ignore[attr-defined]
    driver.find_element(By.TAG_NAME, "body").click()  # type: ignore[attr-defined]  (focus off the name field)
    driver.find_element(By.TAG_NAME, "body").send_keys(key)  # type: ignore[attr-defined]
    wait.until(ec.text_to_be_present_in_element((By.ID, "reviewed"), corrected))
    assert "Kari" in driver.find_element(By.ID, "history").text  # type: ignore[attr-defined]

    # the review is a row of its own, with its MQTT message waiting in the outbox
    store_path = desk.store
    with PassageStore(store_path, read_only=True) as store:
        (review,) = store.reviews(passage_id)
        assert (review.old_label, review.new_label, review.reviewer) == (detected, corrected, "Kari")
        assert store.passage(passage_id).passage.species == detected  # type: ignore[union-attr]
        waiting = [json.loads(r.payload) for r in store.outbox(10_000) if r.topic == "review"]
    assert [(m["passage"], m["new"]) for m in waiting] == [(passage_id, corrected)]

    # ... which `fishgate publish` delivers to the broker
    site = store_path.parent / "site.toml"
    site.write_text(site.read_text() + f'\n[mqtt]\nhost = "127.0.0.1"\nport = {broker.port}\n')
    sub = Subscriber(broker.port, "fishgate/chute-sample/review")
    try:
        assert main(["publish", "-c", str(site), "--timeout", "20"]) == 0
        (message,) = sub.wait_for("fishgate/chute-sample/review", 1)
        assert json.loads(message.payload)["passage"] == passage_id
    finally:
        sub.close()

    # the reviewed counts moved one fish from the detected species to the corrected one
    driver.get(desk.url + "/passages")  # type: ignore[attr-defined]
    after = _counts(driver)
    if _upstream(store_path, passage_id):
        assert after[detected] == (before[detected][0], before[detected][1] - 1)
        assert after[corrected][1] == before.get(corrected, (0, 0))[1] + 1
    assert {s: d for s, (d, _) in after.items()} == {s: d for s, (d, _) in before.items()}  # detections kept

    driver.get(desk.url + "/season")  # type: ignore[attr-defined]
    wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-rendered") == "yes")
    charts = ["chart-daily", "chart-cumulative", "chart-hours", "chart-lengths", "chart-routes"]
    assert all(browser.canvas_has_pixels(driver, c) for c in charts), charts
    assert browser.severe_console_errors(driver) == []
    browser.screenshot(driver, "review-season", tmp_path)


def _upstream(store_path: Path, passage_id: str) -> bool:
    with PassageStore(store_path, read_only=True) as store:
        stored = store.passage(passage_id)
    return stored is not None and stored.passage.direction == "upstream"


def test_the_season_report_of_the_replayed_store_opens_offline_with_the_counts_of_fishgate_counts(
    replayed: Path, chromium: object, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import csv
    import io

    page = tmp_path / "season.html"
    assert main(["report", "-c", str(replayed), "-o", str(page)]) == 0
    capsys.readouterr()
    assert main(["counts", "-c", str(replayed), "--csv"]) == 0
    per_species: dict[str, list[int]] = {}
    for row in csv.DictReader(io.StringIO(capsys.readouterr().out)):
        counts = [int(row[k]) for k in ("upstream", "to_river", "to_tank", "downstream")]
        per_species[row["species"]] = [
            a + b for a, b in zip(per_species.get(row["species"], [0] * 4), counts, strict=True)
        ]
    driver: object = chromium
    driver.get(page.resolve().as_uri())  # type: ignore[attr-defined]
    rows = driver.execute_script(  # type: ignore[attr-defined]
        "return [...document.querySelectorAll('#counts tr')].map(tr => [...tr.cells].map(td => td.textContent.trim()))"
    )
    shown = {r[0]: [int(v) for v in r[1:5]] for r in rows[1:-1]}
    assert shown == per_species and sum(v[0] + v[3] for v in shown.values()) >= 8
    fetched = driver.execute_script(  # type: ignore[attr-defined]
        "return performance.getEntriesByType('resource').map(e => e.name).filter(n => !n.startsWith('data:'))"
    )
    assert fetched == []  # it fetched nothing: it opens offline
    assert all(browser.canvas_has_pixels(driver, c) for c in ("chart-daily", "chart-routes"))
    assert browser.severe_console_errors(driver) == []
