"""The web app in a real browser (headless chromium), on LFW photos: enroll two people through
the page (one from a photo of several faces, by clicking the face), tag an album of their other
photos and strangers, name a group of unknown faces, answer three suggestions by key, see a
person's faces change, identify a new photo. The suggestions are album faces just under the
threshold, put there on purpose (`tests.near_threshold`): the album's scores are measured
first, and the threshold picked from them. Each view is saved as a screenshot: into a
temporary folder, or into the folder FACEPAIR_SCREENSHOTS names (relative to the checkout:
`FACEPAIR_SCREENSHOTS=docs/screenshots` refreshes the docs' images)."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from index import curation
from index.album.tagger import AlbumTagger
from index.gallery import Gallery
from index.settings import IndexSettings
from tests.near_threshold import (
    MARGIN,
    STRICTEST,
    At,
    Scored,
    album_scores,
    on_an_edge,
    pick,
    said_no,
    waiting,
    without,
)
from tests.test_gallery import side_by_side
from tests.test_service import Server, chromium, photo

ROOT = Path(__file__).resolve().parent.parent
ANN, BOB, STRANGER = "Gerhard_Schroeder", "Jacques_Chirac", "Celine_Dion"
STRANGERS = (1, 2, 4, 5, 6)  # one group of unknown faces on any CPU (tests/test_curation.py)


def fill(summer: Path, lfw_dir: Path, leave_out: Collection[str] = ()) -> int:
    """The album: the two people's other photos and the stranger's (but the photos left out);
    how many photos it holds."""
    summer.mkdir(parents=True)
    for name, numbers in ((ANN, range(5, 16)), (BOB, range(5, 16)), (STRANGER, STRANGERS)):
        for i in numbers:
            if f"{name}_{i}.jpg" not in leave_out:
                shutil.copy(photo(lfw_dir, name, i), summer / f"{name}_{i}.jpg")
    return len(list(summer.iterdir()))


def measure(home: Path, lfw_dir: Path, detector, group: Path) -> tuple[list[Scored], float]:
    """The album's scores under the strictest threshold, with the gallery that the page builds
    (Ann from three photos at once; Bob from his face in `group`, then from two photos), and
    Bob's score on the new photo of him identified at the end."""
    from faces.decode import decode
    from faces.embed import Embedder

    summer = home / "albums" / "summer"
    fill(summer, lfw_dir)
    with Gallery(IndexSettings(home=home, fpir=STRICTEST, context_band=0.0), detector=detector,
                 embedder=Embedder()) as g:
        g.enroll_photos("Ann", [photo(lfw_dir, ANN, i) for i in (1, 2, 3)])
        right = max(detector.detect(decode(group)), key=lambda f: f.box[0])
        g.enroll("Bob", group, box=right.box)
        g.enroll_photos("Bob", [photo(lfw_dir, BOB, i) for i in (1, 2)])
        AlbumTagger(g, workers=1).run(summer.parent)
        again = max(c.score for m in g.identify(photo(lfw_dir, BOB, 17)) for c in m.candidates
                    if c.person.name == "Bob")
        return album_scores(g), again


def seen_in_the_browser(measured: list[Scored], bob_again: float, at: At) -> set[str] | None:
    """The photos left out so that each step of the page sees what it checks: at 6 enrolled
    faces (the album tagged) six photos of Bob or more named and none of the stranger's; at 11
    (hers named from their group) Ann's face the closest suggestion, and three or more
    waiting; at 12 (that face confirmed) the others still waiting, and Bob named in a new
    photo. Left out: faces on an edge, faces that would leave the band at 12, someone else's
    faces closer than hers, faces that "no" to the second would take with it."""
    tagged, shown, confirmed = at(6), at(11), at(12)
    band = curation.SUGGEST_BAND
    if bob_again < confirmed + MARGIN or any(
            STRANGER in f.photo and f.score >= tagged - MARGIN for f in measured):
        return None
    out = on_an_edge(measured, tagged, shown - band, confirmed - band)
    out |= {f.photo for f in measured if shown - band <= f.score < confirmed - band}
    first = waiting(without(measured, out), shown, named_at=tagged)
    hers = [f for f in first if f.person == "Ann" and ANN in f.photo]
    if len(first) < 3 or not hers:
        return None
    out |= {f.photo for f in first if f.score > hers[0].score}
    first = waiting(without(measured, out), shown, named_at=tagged)
    if len(first) < 3:
        return None
    out |= said_no(first[1], [f for f in first if f is not first[1]])
    kept = without(measured, out)
    bob = [f for f in kept if BOB in f.photo and f.person == "Bob" and f.score >= tagged
           and [g.photo for g in kept].count(f.photo) == 1]  # captioned "Bob" alone
    if (waiting(kept, shown, named_at=tagged)[:2] != first[:2] or len(bob) < 6
            or any(STRANGER in name or f"{BOB}_5." in name for name in out)):
        return None
    return out


@dataclass
class App:
    server: Server
    albums: Path
    photos: int  # in the album
    group: Path  # Bob beside the stranger


@pytest.fixture(scope="module")
def app(tmp_path_factory, lfw_dir: Path, detector):
    """A service with an album folder of the two people's other photos and a stranger's, and
    an FPIR picked from the album's scores, so that some of Ann's album faces are suggestions
    (its threshold is strict: the card's at a pair rate of about 1e-5)."""
    from faces.embed import load_card

    root = tmp_path_factory.mktemp("webapp")
    group = root / "bob-and-stranger.png"
    group.write_bytes(side_by_side(photo(lfw_dir, STRANGER, 7), photo(lfw_dir, BOB, 4)))
    measured, bob_again = measure(root / "measured", lfw_dir, detector, group)
    fpir, out = pick(load_card().thresholds,
                     lambda at: seen_in_the_browser(measured, bob_again, at))
    albums = root / "albums"
    photos = fill(albums / "summer", lfw_dir, out)
    server = Server(root / "home")
    server.env.update(FACEPAIR_ALBUM_ROOTS=json.dumps([str(albums)]), FACEPAIR_FPIR=repr(fpir),
                      FACEPAIR_ALBUM_WORKERS="1",
                      FACEPAIR_CONTEXT_BAND="0")  # the suggestions: each photo named alone
    server.keys = {"write": server.cli("keys", "create", "--scope", "write")["key"]}
    server.start()
    yield App(server, albums, photos, group)
    server.stop()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    found = chromium()
    if found is None:
        pytest.skip("needs chromium and chromedriver (apt: chromium chromium-driver; "
                    ".ci/run installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = found[0]
    profile = tmp_path_factory.mktemp("profile")
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1440,900", f"--user-data-dir={profile}"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(found[1]), options=options)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    """Where the screenshots go: a folder of this run's own unless FACEPAIR_SCREENSHOTS names
    one (a local run leaves the checkout as it was)."""
    asked = os.environ.get("FACEPAIR_SCREENSHOTS")
    folder = ROOT / asked if asked else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


WIDE, PHONE = (1440, 900), (390, 844)
AXE = ROOT / ".venv" / "axe-core" / "axe.min.js"  # npm's axe-core (`make install` fetches it)
SERIOUS = ("serious", "critical")


def audit(driver) -> list[dict]:
    """axe-core's serious and critical violations on the page as it is: each rule's id and
    the elements it found."""
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: `make install` fetches axe-core from npm")
    if not driver.execute_script("return typeof window.axe === 'object'"):
        driver.execute_script(AXE.read_text())
    return driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {resultTypes: ['violations']}).then(r => done(r.violations"
        ".filter(v => arguments[0].includes(v.impact))"
        ".map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target.join(' '))}))))"
        ".catch(e => done([{id: 'axe failed', nodes: [String(e)]}]));", list(SERIOUS))


def client(server: Server) -> httpx.Client:
    """The service's API with the write key."""
    return httpx.Client(base_url=server.url, timeout=60,
                        headers={"Authorization": f"Bearer {server.keys['write']}"})


def tag_folder(api: httpx.Client, folder: Path) -> None:
    """An album job over `folder`, followed to its end."""
    job = api.post("/v1/albums/jobs", json={"path": str(folder)}).json()
    while api.get(f"/v1/albums/jobs/{job['id']}").json()["status"] in ("queued", "running"):
        time.sleep(0.3)


def shot(driver, folder: Path, name: str) -> None:
    """The view as it is, at 1,440 px (`name.png`) and at 390 px (`name-phone.png`), checked
    by axe-core at both: no serious or critical violation, and nothing runs off the side."""
    time.sleep(0.3)  # thumbnails arrive after the view
    for size, suffix in ((WIDE, ""), (PHONE, "-phone")):
        driver.set_window_size(*size)
        time.sleep(0.2)
        driver.save_screenshot(str(folder / f"{name}{suffix}.png"))
        assert audit(driver) == [], (name, size)
        width, inner = driver.execute_script(
            "return [document.documentElement.scrollWidth, window.innerWidth]")
        assert width <= inner, (name, size, width, inner)
    driver.set_window_size(*WIDE)


def test_a_gallery_set_up_and_curated_in_the_browser(app: App, browser, shots: Path,
                                                     lfw_dir: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select, WebDriverWait

    server, albums = app.server, app.albums
    d, wait = browser, WebDriverWait(browser, 120)

    def find(css: str):
        return d.find_element(By.CSS_SELECTOR, css)

    def finds(css: str):
        return d.find_elements(By.CSS_SELECTOR, css)

    def status() -> str:
        return find("#status").text

    d.get(server.url + "/")
    find("#key").send_keys(server.keys["write"])
    find("#key-form button").click()
    assert d.execute_script("return sessionStorage.getItem('facepair-key')") == server.keys[
        "write"]
    assert server.keys["write"] not in d.current_url

    # 1. People: two people from several photos at once; a photo of several faces is shown
    # with its boxes, and the user clicks the face
    wait.until(lambda _: finds("#new-name"))
    find("#new-name").send_keys("Ann <b>Schröder</b>")  # shown as text, never as HTML
    find("#new-photos").send_keys("\n".join(str(photo(lfw_dir, ANN, i)) for i in (1, 2, 3)))
    find("#new-photos").find_element(By.XPATH, "ancestor::form//button").click()
    wait.until(lambda _: "3 of 3 photo(s) enrolled" in status())
    find("#new-name").clear()
    find("#new-name").send_keys("Bob")
    find("#new-photos").clear()
    find("#new-photos").send_keys(str(app.group))  # nothing yet says which face is his
    find("#new-photos").find_element(By.XPATH, "ancestor::form//button").click()
    wait.until(lambda _: finds("#pick .photo-pick button.box"))
    boxes = finds("#pick .photo-pick button.box")
    assert len(boxes) == 2
    shot(d, shots, "enroll-pick-a-face")
    right = max(boxes, key=lambda b: b.location["x"])  # Bob stands on the right
    right.click()
    wait.until(lambda _: "Enrolled Bob" in status())
    wait.until(lambda _: finds('.card[data-name="Bob"] input.enroll'))
    find('.card[data-name="Bob"] input.enroll').send_keys(
        "\n".join(str(photo(lfw_dir, BOB, i)) for i in (1, 2)))
    wait.until(lambda _: "Bob: 2 of 2 photo(s) enrolled" in status())
    wait.until(lambda _: finds('.card[data-name="Bob"] .count')
               and find('.card[data-name="Bob"] .count').text == "3 faces")
    counts = {c.get_attribute("data-name"): c.find_element(By.CSS_SELECTOR, ".count").text
              for c in finds(".card")}
    assert counts == {"Ann <b>Schröder</b>": "3 faces", "Bob": "3 faces"}
    assert not finds(".card b")  # the name's markup stayed text
    wait.until(lambda _: all(img.get_attribute("src") for img in finds(".card img")))
    shot(d, shots, "people")

    # 3. Albums: pick the folder, tag it, follow the job, see the photos named
    find('nav a[data-view="albums"]').click()
    wait.until(lambda _: finds(f'#folders button[data-path="{albums}"]'))
    find(f'#folders button[data-path="{albums}"]').click()
    wait.until(lambda _: finds('#folders button[data-path$="summer"]'))
    find('#folders button[data-path$="summer"]').click()
    wait.until(lambda _: finds("#tag"))
    find("#tag").click()
    wait.until(lambda _: "Album job done" in status())
    # a page of 24, then the rest; the first page's thumbnails are given back when it goes
    assert app.photos > 24
    wait.until(lambda _: len(finds("#photos figure")) == 24)
    assert find("#photos .pager span").text == f"1–24 of {app.photos}"
    captions = {f.find_element(By.CSS_SELECTOR, ".file").text:
                f.find_element(By.CSS_SELECTOR, ".who").text for f in finds("#photos figure")}
    wait.until(lambda _: all(img.get_attribute("src") for img in finds("#photos img")))
    first_page = [img.get_attribute("src") for img in finds("#photos img")]
    next(b for b in finds("#photos .pager button") if b.text.startswith("Next")).click()
    wait.until(lambda _: len(finds("#photos figure")) == app.photos - 24)
    assert find("#photos .pager span").text == f"25–{app.photos} of {app.photos}"
    captions |= {f.find_element(By.CSS_SELECTOR, ".file").text:
                 f.find_element(By.CSS_SELECTOR, ".who").text for f in finds("#photos figure")}
    assert len(captions) == app.photos
    released = d.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "Promise.all(arguments[0].map(u => fetch(u).then(() => false, () => true)))"
        ".then(done);", first_page)
    assert all(released)  # a revoked object URL can no longer be fetched
    assert captions[f"{BOB}_5.jpg"] in ("Bob", "unknown")
    assert sum(who == "Bob" for who in captions.values()) >= 6
    assert all(who == "unknown" for name, who in captions.items() if STRANGER in name)
    shot(d, shots, "albums")

    # 4. Unknown groups: the stranger's faces, named
    find('nav a[data-view="groups"]').click()
    wait.until(lambda _: finds(".group"))
    with client(server) as api:
        (hers,) = [c["id"] for c in api.get("/v1/clusters").json()["clusters"]
                   if all(STRANGER in e for e in c["examples"])]
    stranger = find(f'.group[data-group="{hers}"]')
    assert len(stranger.find_elements(By.CSS_SELECTOR, ".face")) == 5
    shot(d, shots, "groups")
    stranger.find_element(By.CSS_SELECTOR, 'input[aria-label^="Name group"]').send_keys("Céline")
    stranger.find_element(By.CSS_SELECTOR, "button.primary").click()
    wait.until(lambda _: "Céline: 5 faces enrolled" in status())

    # 5. Suggestions: three answered by key, the count going down
    find('nav a[data-view="suggestions"]').click()
    wait.until(lambda _: finds("#suggested"))
    waiting = int(find("#waiting-count").text.split()[0])
    assert waiting >= 3 and find("#suggested").text == "Ann <b>Schröder</b>"
    # it says which faces named Ann in other photos are like it, as the API does
    with client(server) as api:
        (first,) = api.get("/v1/suggestions", params={"limit": 1}).json()["suggestions"]
    support = first["support"]
    assert find("#support").text == (
        f"Like {support['faces']} face{'' if support['faces'] == 1 else 's'} named Ann "
        "<b>Schröder</b> in other photos:" if support["faces"]
        else "Like no face named Ann <b>Schröder</b> in other photos.")
    assert len(find(".suggestion").find_elements(By.CSS_SELECTOR, ".faces img")) == len(
        support["closest"])
    shot(d, shots, "suggestions")
    body = find("body")
    answered = []
    for key in ("y", "n", "s"):
        face = find(".suggestion").get_attribute("data-face")
        answered.append(face)
        body.send_keys(key)
        wait.until(lambda _, f=face: not finds(f'.suggestion[data-face="{f}"]'))
    assert len(set(answered)) == 3
    left = (int(find("#waiting-count").text.split()[0]) if finds("#waiting-count") else 0)
    assert left == waiting - 3

    # 2. A person's page: the confirmed face is theirs; "not this person" takes one away
    find('nav a[data-view="people"]').click()
    wait.until(lambda _: finds('.card[data-name="Ann <b>Schröder</b>"] .count'))
    assert find('.card[data-name="Ann <b>Schröder</b>"] .count').text == "4 faces"
    find('.card[data-name="Ann <b>Schröder</b>"] a').click()
    wait.until(lambda _: finds("#album-faces .face"))
    assert f"album:{answered[0]}" in [f.get_attribute("data-face")
                                      for f in finds("#album-faces .face")]
    before = len(finds("#album-faces .face"))
    wait.until(lambda _: all(img.get_attribute("src") for img in finds(".face img")))
    # their photos, newest first, as the API lists them
    with client(server) as api:
        ann = next(p for p in api.get("/v1/people").json()["people"] if "Ann" in p["name"])
        hers = api.get("/v1/photos", params={"person": ann["id"], "limit": 24}).json()
    wait.until(lambda _: len(finds("#person-photos figure")) == len(hers["photos"]))
    assert find("#person-photos h2").text == f"Photos ({hers['count']})"
    assert [f.get_attribute("data-photo") for f in finds("#person-photos figure")] == [
        str(p["id"]) for p in hers["photos"]]
    shot(d, shots, "person")
    finds("#album-faces .face button")[-1].click()
    wait.until(lambda _: "never will be" in status())
    wait.until(lambda _: len(finds("#album-faces .face")) == before - 1)

    # 7. Photos by person: Bob's, then Bob's with Ann (none: they are never together here)
    find('nav a[data-view="photos"]').click()
    wait.until(lambda _: finds("#photo-person"))
    find("#photo-person").send_keys("bob", Keys.ENTER)
    wait.until(lambda _: finds("#photo-count"))
    shown = [f.find_element(By.CSS_SELECTOR, ".who").text for f in finds(".photos figure")]
    assert len(shown) == sum(who == "Bob" for who in captions.values()) >= 6
    assert all("Bob" in who for who in shown)
    assert find("#photo-count").text.startswith(f"{len(shown)} photos with Bob")
    shot(d, shots, "photos")
    find("#photo-person").send_keys("Ann <b>Schröder</b>", Keys.ENTER)
    wait.until(lambda _: len(finds("#photo-chosen li")) == 2)
    wait.until(lambda _: finds("#photo-count") and find("#photo-count").text.startswith(
        "0 photos with Bob and Ann"))
    find('#photo-chosen button[aria-label="Remove Ann <b>Schröder</b>"]').click()
    wait.until(lambda _: len(finds("#photo-chosen li")) == 1 and len(finds(".photos figure"))
               == len(shown))

    # 6. Who is in this photo?
    find('nav a[data-view="identify"]').click()
    wait.until(lambda _: finds("#identify-file"))
    find("#identify-file").send_keys(str(photo(lfw_dir, BOB, 17)))
    wait.until(lambda _: finds("#names li"))
    labels = [li.find_element(By.CSS_SELECTOR, ".label").text for li in finds("#names li")]
    assert any(label.startswith("Bob (") for label in labels), labels
    shot(d, shots, "identify")
    # a face drawn on the photo asked about (its corners typed: the keyboard's way), named:
    # enrolled for Bob from that box
    with client(server) as api:
        bob = next(p for p in api.get("/v1/people").json()["people"] if p["name"] == "Bob")
        (asked,) = api.post("/v1/identify", files={"photo": (
            "b.jpg", photo(lfw_dir, BOB, 17).read_bytes(), "image/jpeg")}).json()["faces"]
    find("#identify-draw-face").click()
    for name, value in zip(("x1", "y1", "x2", "y2"), asked["box"], strict=True):
        find(f'#identify-draw-form input[name="{name}"]').send_keys(str(round(value)))
    find("#identify-name").send_keys("Bob")
    shot(d, shots, "identify-draw-a-face")
    find('#identify-draw-form button[type="submit"]').click()
    wait.until(lambda _: "Enrolled Bob from the face drawn" in status())
    with client(server) as api:
        assert api.get(f"/v1/people/{bob['id']}").json()["faces"] == bob["faces"] + 1

    # 1 again: rename, merge (picking the other person), delete for good (after a confirm)
    find('nav a[data-view="people"]').click()
    wait.until(lambda _: finds('.card[data-name="Bob"]'))
    next(b for b in finds('.card[data-name="Bob"] button') if b.text == "Rename").click()
    field = find('.card[data-name="Bob"] form input')
    field.clear()
    field.send_keys("Robert", Keys.ENTER)
    wait.until(lambda _: finds('.card[data-name="Robert"]'))
    next(b for b in finds('.card[data-name="Robert"] button') if b.text == "Merge…").click()
    Select(find('.card[data-name="Robert"] select')).select_by_visible_text("Céline")
    find('.card[data-name="Robert"] form button[type="submit"]').click()
    wait.until(lambda _: "Céline merged into Robert" in status())
    wait.until(lambda _: not finds('.card[data-name="Céline"]'))
    next(b for b in finds('.card[data-name="Robert"] button') if b.text == "Delete").click()
    alert = d.switch_to.alert
    assert "for good" in alert.text
    alert.accept()
    wait.until(lambda _: not finds('.card[data-name="Robert"]'))

    # keyboard: the views are reachable by tabbing to the links
    find("#key").send_keys(Keys.TAB)
    assert d.switch_to.active_element.tag_name in ("button", "a")


def test_this_is_and_different_people_in_the_browser(app: App, browser) -> None:
    """(After the test above: Ann and her album faces.) "This is …" on one of Ann's album
    faces gives it to someone new; where the two then look alike, they are told apart."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    d, wait = browser, WebDriverWait(browser, 60)

    def finds(css: str):
        return d.find_elements(By.CSS_SELECTOR, css)

    d.set_window_size(*WIDE)
    d.get(app.server.url + "/#/people")
    wait.until(lambda _: finds(".card"))
    ann = [c for c in finds(".card") if c.get_attribute("data-name") == "Ann <b>Schröder</b>"]
    if not ann:
        pytest.skip("runs after the test above, which enrolls Ann through the page")
    ann[0].find_element(By.CSS_SELECTOR, "a").click()
    wait.until(lambda _: finds("#album-faces .face .this-is input"))
    before = len(finds("#album-faces .face"))
    tile = finds("#album-faces .face")[0]
    face = tile.get_attribute("data-face")
    field = tile.find_element(By.CSS_SELECTOR, ".this-is input")
    assert field.get_attribute("list") == "people-names"  # autocompletes the people
    assert field.find_element(By.XPATH, "ancestor::label").text.startswith("This is")
    field.send_keys("Zoë")
    tile.find_element(By.CSS_SELECTOR, ".this-is button").click()
    wait.until(lambda _: "Zoë's now" in d.find_element(By.CSS_SELECTOR, "#status").text)
    wait.until(lambda _: len(finds("#album-faces .face")) == before - 1)
    assert face not in [f.get_attribute("data-face") for f in finds("#album-faces .face")]

    d.get(app.server.url + "/#/people")
    wait.until(lambda _: finds('.card[data-name="Zoë"]'))
    told = [b for b in finds("#lookalikes .pair button") if b.text == "Different people"]
    if told:
        told[0].click()
        wait.until(lambda _: "are different people" in
                   d.find_element(By.CSS_SELECTOR, "#status").text)
        wait.until(lambda _: finds("#lookalikes .pair .told"))


def test_a_face_drawn_on_an_album_photo_in_the_browser(app: App, browser, shots: Path,
                                                       lfw_dir: Path) -> None:
    """An album photo opened larger shows its face's box; "Draw a face": a rectangle dragged
    on the photo (away from the face the detector found) fills the box's corners, named and
    saved; the photo then shows both boxes, the drawn one dashed."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    server, d, wait = app.server, browser, WebDriverWait(browser, 120)
    drawn = app.albums / "drawn"
    drawn.mkdir()
    shutil.copy(photo(lfw_dir, BOB, 16), drawn / "bob.jpg")
    with client(server) as api:
        tag_folder(api, drawn)

    def find(css: str):
        return d.find_element(By.CSS_SELECTOR, css)

    def finds(css: str):
        return d.find_elements(By.CSS_SELECTOR, css)

    d.set_window_size(*WIDE)
    d.get(server.url + "/")
    find("#key").clear()
    find("#key").send_keys(server.keys["write"])
    find("#key-form button").click()
    wait.until(lambda _: finds("#new-name"))
    find('nav a[data-view="albums"]').click()
    wait.until(lambda _: finds(f'#folders button[data-path="{app.albums}"]'))
    find(f'#folders button[data-path="{app.albums}"]').click()
    wait.until(lambda _: finds('#folders button[data-path$="drawn"]'))
    find('#folders button[data-path$="drawn"]').click()
    wait.until(lambda _: d.execute_script(  # (the view is drawn anew as it is followed)
        "return document.querySelector('#view p.muted').textContent.endsWith('drawn') "
        "&& document.querySelectorAll('#photos figure button.open').length"))
    find("#photos figure button.open").click()
    wait.until(lambda _: len(finds("#photo-stage .face-box:not(.new)")) == 1)
    find("#draw-face").click()
    wait.until(lambda _: d.execute_script(
        "return document.querySelector('#photo-stage img').naturalWidth"))
    stage = find("#photo-stage img")
    # the photo's top left corner, where LFW's centred face is not: from 4 % to 24 % of it
    # (the pointer is placed from the photo's centre)
    w, h = stage.size["width"], stage.size["height"]
    d.execute_script("arguments[0].scrollIntoView({block: 'start'})", stage)
    ActionChains(d).move_to_element_with_offset(stage, round(-0.46 * w), round(-0.46 * h)) \
        .click_and_hold().move_by_offset(round(0.2 * w), round(0.2 * h)).release().perform()
    corners = [float(find(f'#draw-form input[name="{n}"]').get_attribute("value") or -1)
               for n in ("x1", "y1", "x2", "y2")]
    assert 0 <= corners[0] < 20 and 40 < corners[2] < 80, corners
    find("#drawn-name").send_keys("Someone")
    find('#draw-form button[type="submit"]').click()
    wait.until(lambda _: "Added a face: Someone" in find("#status").text)
    wait.until(lambda _: len(finds("#photo-stage .face-box.drawn")) == 1)
    assert finds("#photo-stage .face-box.drawn span")[0].text == "Someone"
    shot(d, shots, "album-draw-a-face")
    # put right in one step from the photo itself: "this is …" on its face
    row = next(li for li in finds("#photo-faces li")
               if li.find_element(By.CSS_SELECTOR, ".who").text == "Someone")
    row.find_element(By.CSS_SELECTOR, ".this-is input").send_keys("Somebody Else")
    row.find_element(By.CSS_SELECTOR, ".this-is button").click()
    wait.until(lambda _: "Somebody Else's now, and never Someone's again" in find("#status").text)
    wait.until(lambda _: [s.text for s in finds("#photo-stage .face-box.drawn span")]
               == ["Somebody Else"])


def test_a_video_and_who_is_in_it_in_the_browser(app: App, browser, shots: Path,
                                                 lfw_dir: Path) -> None:
    """Vera enrolled from three photos; a clip of two of them, a stranger's photo between,
    tagged: the album shows it as a frame marked as a video; opened, it lists Vera with the
    time ranges she is on screen, each face with a chip; her page lists the video among her
    photos."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from bench.video import H264, encoder, make_clip

    server, d, wait = app.server, browser, WebDriverWait(browser, 120)
    vera = "Colin_Powell"
    folder = app.albums / "videos"
    folder.mkdir()
    codec = encoder(H264)
    assert codec is not None, "the PyAV wheel has no H.264 encoder"
    make_clip(folder / "clip.mp4", [photo(lfw_dir, vera, 1), photo(lfw_dir, STRANGER, 7),
                                    photo(lfw_dir, vera, 2)], codec, (400, 300), 10, 2.5)
    with client(server) as api:
        person = api.post("/v1/people", json={"name": "Vera"}).json()["id"]
        api.post(f"/v1/people/{person}/enrollments", files=[
            ("photos", (f"{i}.jpg", photo(lfw_dir, vera, i).read_bytes(), "image/jpeg"))
            for i in (1, 2, 3)]).raise_for_status()
        tag_folder(api, folder)
        (video,) = api.get("/v1/albums/photos", params={"root": str(folder)}).json()["photos"]
    (hers,) = [f for f in video["faces"] if f["person"] and f["person"]["id"] == person]
    assert hers["times"] == [[0.0, 2.5], [5.0, 7.5]]  # her two shots, 2.5 s each

    def find(css: str):
        return d.find_element(By.CSS_SELECTOR, css)

    def finds(css: str):
        return d.find_elements(By.CSS_SELECTOR, css)

    d.set_window_size(*WIDE)
    d.get(server.url + "/#/people")
    wait.until(lambda _: finds('.card[data-name="Vera"]'))
    find('nav a[data-view="albums"]').click()
    wait.until(lambda _: finds(f'#folders button[data-path="{app.albums}"]'))
    find(f'#folders button[data-path="{app.albums}"]').click()
    wait.until(lambda _: finds('#folders button[data-path$="videos"]'))
    find('#folders button[data-path$="videos"]').click()
    wait.until(lambda _: finds("#photos figure.video .video-mark"))
    assert find("#photos figure.video .video-mark").text == "▶ video 0:07"
    find("#photos figure.video button.open").click()
    wait.until(lambda _: finds("#photo-open .video-people li"))
    rows = [(li.find_element(By.CSS_SELECTOR, ".who").text,
             li.find_element(By.CSS_SELECTOR, ".when").text)
            for li in finds("#photo-open .video-people li")]
    assert ("Vera", "0:00–0:02, 0:05–0:07") in rows
    assert all(who == "unknown" for who, _ in rows if who != "Vera")  # the stranger
    assert len(finds("#photo-open .video-people li img")) == len(rows) == len(video["faces"])
    shot(d, shots, "video")
    d.get(server.url + f"/#/person/{person}")
    wait.until(lambda _: finds(f'#person-photos figure.video[data-photo="{video["id"]}"]'))


def test_one_face_of_a_group_named_in_one_step(app: App, browser, lfw_dir: Path) -> None:
    """A group of a stranger's faces; "this is …" on one of them: that face is named (a new
    person), the group keeps the others."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    server, d, wait = app.server, browser, WebDriverWait(browser, 120)
    folder = app.albums / "group"
    folder.mkdir()
    for i in range(1, 7):  # one stranger's photos: a group of unknown faces
        shutil.copy(photo(lfw_dir, "Tony_Blair", i), folder / f"tony-{i}.jpg")
    with client(server) as api:
        tag_folder(api, folder)
        (group,) = [c for c in api.get("/v1/clusters").json()["clusters"]
                    if all("tony-" in e for e in c["examples"])]

    def finds(css: str):
        return d.find_elements(By.CSS_SELECTOR, css)

    d.set_window_size(*WIDE)
    d.get(server.url + "/#/people")
    wait.until(lambda _: finds("#new-name"))
    d.find_element(By.CSS_SELECTOR, 'nav a[data-view="groups"]').click()
    wait.until(lambda _: finds(f'.group[data-group="{group["id"]}"] .face .this-is input'))
    face = finds(f'.group[data-group="{group["id"]}"] .face')[0]
    named = face.get_attribute("data-face")
    face.find_element(By.CSS_SELECTOR, ".this-is input").send_keys("Tony")
    face.find_element(By.CSS_SELECTOR, ".this-is button").click()
    wait.until(lambda _: "That face is Tony's now." in
               d.find_element(By.CSS_SELECTOR, "#status").text)
    wait.until(lambda _: named not in [f.get_attribute("data-face") for f in finds(".group .face")])
    with client(server) as api:
        tony = next(p for p in api.get("/v1/people").json()["people"] if p["name"] == "Tony")
        theirs = api.get(f"/v1/people/{tony['id']}/faces").json()["album"]
    assert [f["id"] for f in theirs] == [int(named)]


def test_without_keys_the_page_asks_for_none(browser, tmp_path_factory) -> None:
    """A service run with FACEPAIR_AUTH=false: no key form, and the views work at once."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    server = Server(tmp_path_factory.mktemp("keyless"))
    server.env["FACEPAIR_AUTH"] = "false"
    server.start()
    try:
        browser.get(server.url + "/#/people")
        wait = WebDriverWait(browser, 60)
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#new-name"))
        assert not browser.find_element(By.CSS_SELECTOR, "#key-form").is_displayed()
        browser.find_element(By.CSS_SELECTOR, 'nav a[data-view="photos"]').click()
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#photo-person"))
    finally:
        server.stop()
