"""The web app in a real browser (headless chromium), on LFW photos: enroll two people through
the page (one from a photo of several faces, by clicking the face), tag an album of their other
photos and strangers, name a group of unknown faces, answer three suggestions by key, see a
person's faces change, identify a new photo. Each view is saved as a screenshot: into a
temporary folder, or into the folder FACEPAIR_SCREENSHOTS names (relative to the checkout:
`FACEPAIR_SCREENSHOTS=docs/screenshots` refreshes the docs' images)."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest

from tests.test_gallery import side_by_side
from tests.test_service import Server, chromium, photo

ROOT = Path(__file__).resolve().parent.parent
ANN, BOB, STRANGER = "Gerhard_Schroeder", "Jacques_Chirac", "Celine_Dion"


@pytest.fixture(scope="module")
def app(tmp_path_factory, lfw_dir: Path):
    """A service with an album folder of the two people's other photos and a stranger's, and
    a strict threshold (FPIR 1e-4), so that some of their album faces are suggestions."""
    root = tmp_path_factory.mktemp("webapp")
    albums = root / "albums"
    summer = albums / "summer"
    summer.mkdir(parents=True)
    for name, numbers in ((ANN, range(5, 16)), (BOB, range(5, 16)), (STRANGER, range(1, 6))):
        for i in numbers:
            shutil.copy(photo(lfw_dir, name, i), summer / f"{name}_{i}.jpg")
    server = Server(root / "home")
    server.env.update(FACEPAIR_ALBUM_ROOTS=json.dumps([str(albums)]), FACEPAIR_FPIR="0.0001",
                      FACEPAIR_ALBUM_WORKERS="1")
    server.keys = {"write": server.cli("keys", "create", "--scope", "write")["key"]}
    server.start()
    yield server, albums, root
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
                "--window-size=1100,900", f"--user-data-dir={profile}"):
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


def shot(driver, folder: Path, name: str) -> None:
    time.sleep(0.3)  # thumbnails arrive after the view
    driver.save_screenshot(str(folder / f"{name}.png"))


def test_a_gallery_set_up_and_curated_in_the_browser(app, browser, shots: Path, lfw_dir: Path,
                                                     tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select, WebDriverWait

    server, albums, _ = app
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
    group = tmp_path / "bob-and-stranger.png"
    group.write_bytes(side_by_side(photo(lfw_dir, STRANGER, 7), photo(lfw_dir, BOB, 4)))
    find("#new-name").clear()
    find("#new-name").send_keys("Bob")
    find("#new-photos").clear()
    find("#new-photos").send_keys(str(group))  # nothing yet says which face is his
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
    wait.until(lambda _: len(finds("#photos figure")) == 27)
    captions = {f.find_element(By.CSS_SELECTOR, ".file").text:
                f.find_element(By.CSS_SELECTOR, ".who").text for f in finds("#photos figure")}
    assert captions[f"{BOB}_5.jpg"] in ("Bob", "unknown")
    assert sum(who == "Bob" for who in captions.values()) >= 6
    assert all(who == "unknown" for name, who in captions.items() if STRANGER in name)
    shot(d, shots, "albums")

    # 4. Unknown groups: the stranger's faces, named
    find('nav a[data-view="groups"]').click()
    wait.until(lambda _: finds(".group"))
    stranger = next(g for g in finds(".group")
                    if len(g.find_elements(By.CSS_SELECTOR, ".face")) == 5)
    shot(d, shots, "groups")
    stranger.find_element(By.CSS_SELECTOR, "input").send_keys("Céline")
    stranger.find_element(By.CSS_SELECTOR, "button.primary").click()
    wait.until(lambda _: "Céline: 5 faces enrolled" in status())

    # 5. Suggestions: three answered by key, the count going down
    find('nav a[data-view="suggestions"]').click()
    wait.until(lambda _: finds("#suggested"))
    waiting = int(find("#waiting-count").text.split()[0])
    assert waiting >= 3 and find("#suggested").text == "Ann <b>Schröder</b>"
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
    shot(d, shots, "person")
    finds("#album-faces .face button")[-1].click()
    wait.until(lambda _: "never will be" in status())
    wait.until(lambda _: len(finds("#album-faces .face")) == before - 1)

    # 6. Who is in this photo?
    find('nav a[data-view="identify"]').click()
    wait.until(lambda _: finds("#identify-file"))
    find("#identify-file").send_keys(str(photo(lfw_dir, BOB, 17)))
    wait.until(lambda _: finds("#names li"))
    labels = [li.find_element(By.CSS_SELECTOR, ".label").text for li in finds("#names li")]
    assert any(label.startswith("Bob (") for label in labels), labels
    shot(d, shots, "identify")

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

    # a phone-sized screen: nothing runs off the side
    d.set_window_size(390, 844)
    find('nav a[data-view="people"]').click()
    wait.until(lambda _: finds(".card"))
    width, inner = d.execute_script("return [document.documentElement.scrollWidth, "
                                    "window.innerWidth]")
    wide = d.execute_script(
        "return [...document.querySelectorAll('body *')].filter(e => "
        "e.getBoundingClientRect().right > window.innerWidth + 1).map(e => e.tagName + '.' + "
        "e.className + '#' + e.id).slice(0, 8)")
    assert width <= inner, (width, inner, wide)
    shot(d, shots, "people-phone")
