"""The `facepair` console script, run as a user runs it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent / "facepair"
FACEPAIR = str(BIN)


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN), *args], capture_output=True, text=True, timeout=300)


def test_help_lists_the_commands():
    result = run("--help")
    assert result.returncode == 0
    assert "detect" in result.stdout


def test_detect_json(lfw_dir, orl_dir, tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("not a photo")
    photos = [lfw_dir / "Aaron_Eckhart" / "Aaron_Eckhart_0001.jpg", orl_dir / "s2" / "1.pgm"]
    result = run("detect", *map(str, photos), str(text), "--json")
    assert result.returncode == 1, result.stderr  # one photo could not be read
    assert "Traceback" not in result.stderr
    payload = json.loads(result.stdout.strip().splitlines()[-1])
    entries = payload["photos"]
    assert [e["path"] for e in entries] == [*map(str, photos), str(text)]
    for entry in entries[:2]:
        assert len(entry["faces"]) == 1
        face = entry["faces"][0]
        x1, y1, x2, y2 = face["box"]
        assert x1 < x2 and y1 < y2 and face["score"] > 0.9
        assert len(face["landmarks"]) == 5
    assert entries[2]["faces"] == [] and entries[2]["error"]["code"] == "unsupported_photo"


def test_detect_table_and_missing_file(face_photo):
    result = run("detect", str(face_photo), "/no/such/photo.jpg")
    assert result.returncode == 1
    assert "no such file" in result.stdout
    assert "Traceback" not in result.stderr


def test_names_and_paths_are_printed_as_they_are(tmp_path: Path, lfw_dir: Path) -> None:
    """Rich style tags in a person's name or a photo's path are the user's text: printed
    literally, never read as markup (a closing tag that opens nothing used to crash)."""
    env = {**os.environ, "FACEPAIR_HOME": str(tmp_path)}
    (tmp_path / "[red]album[").mkdir()
    odd = tmp_path / "[red]album[" / "x].jpg"  # the path reads "…[red]album[/x].jpg"
    shutil.copy(lfw_dir / "Aaron_Eckhart" / "Aaron_Eckhart_0001.jpg", odd)
    enroll = subprocess.run([FACEPAIR, "enroll", "Eve[/x]", str(odd)], capture_output=True,
                            text=True, env=env, timeout=300)
    assert enroll.returncode == 0, enroll.stderr
    assert str(odd) in enroll.stdout and "Eve[/x] (id 1)" in enroll.stdout
    listing = subprocess.run([FACEPAIR, "people", "list"], capture_output=True, text=True,
                             env=env, timeout=300)
    assert listing.returncode == 0, listing.stderr
    assert "Eve[/x]" in listing.stdout
    missing = subprocess.run([FACEPAIR, "people", "show", "[bold]nobody[/]"],
                             capture_output=True, text=True, env=env, timeout=300)
    assert missing.returncode == 2 and "[bold]nobody[/]" in missing.stderr


def test_errors_are_never_wrapped_off_a_terminal(tmp_path: Path) -> None:
    """Error text that users grep, or read in a log, stays on one line when stderr is no
    terminal, however narrow COLUMNS says the terminal is: the command's own errors, and a
    mistyped command's."""
    env = {**os.environ, "COLUMNS": "20"}
    nowhere = tmp_path / "a-training-run-folder-with-a-long-name" / "that-was-never-made"
    missing = subprocess.run([FACEPAIR, "export", str(nowhere), "--name", "x"],
                             capture_output=True, text=True, env=env, timeout=300)
    assert missing.returncode == 2
    assert f"error: {nowhere}: no last.pt checkpoint\n" in missing.stderr, missing.stderr
    unknown = subprocess.run([FACEPAIR, "detect", "--an-option-that-no-command-takes", "x.jpg"],
                             capture_output=True, text=True, env=env, timeout=300)
    assert unknown.returncode == 2
    assert "No such option: --an-option-that-no-command-takes\n" in unknown.stderr, unknown.stderr
