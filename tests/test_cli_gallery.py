"""The gallery's commands as a user runs them: argument parsing, finding a person by name or
id, `--json` and exit codes, on real LFW photos in a fresh FACEPAIR_HOME."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

FACEPAIR = str(Path(sys.executable).parent / "facepair")


@pytest.fixture
def cli(tmp_path: Path):
    env = {**os.environ, "FACEPAIR_HOME": str(tmp_path / "home")}

    def run(*args: str, code: int = 0) -> dict:
        done = subprocess.run([FACEPAIR, *args], capture_output=True, text=True, env=env,
                              timeout=300)
        assert done.returncode == code, (args, done.stdout[-800:], done.stderr[-800:])
        assert "Traceback" not in done.stderr
        lines = done.stdout.strip().splitlines()
        return json.loads(lines[-1]) if "--json" in args and lines else {}

    return run


def photo(lfw: Path, name: str, i: int) -> str:
    return str(lfw / name / f"{name}_{i:04d}.jpg")


def test_enroll_identify_verify_people_calibrate_reembed_keys(cli, lfw_dir: Path,
                                                              tmp_path: Path) -> None:
    ann, bob = "Amelie_Mauresmo", "Bill_Frist"
    first = cli("enroll", "Ann", photo(lfw_dir, ann, 1), photo(lfw_dir, ann, 2), "--json")
    assert first["person"]["name"] == "Ann" and first["enrolled"] == 2
    cli("enroll", "Bob", photo(lfw_dir, bob, 1), photo(lfw_dir, bob, 2), "--json")

    named = cli("identify", photo(lfw_dir, ann, 3), "--json")
    (found,) = named["photos"]
    assert [f["person"]["name"] for f in found["faces"] if f["person"]] == ["Ann"]
    assert named["threshold_in_force"]["source"] == "card"

    same = cli("verify", photo(lfw_dir, ann, 3), "person:Ann", "--json")
    other = cli("verify", photo(lfw_dir, ann, 3), photo(lfw_dir, bob, 3), "--json")
    assert same["same"] is True and other["same"] is False and same["score"] > other["score"]

    people = cli("people", "list", "--json")["people"]
    assert sorted((p["name"], p["faces"]) for p in people) == [("Ann", 2), ("Bob", 2)]
    ann_id = next(p["id"] for p in people if p["name"] == "Ann")
    assert cli("people", "show", str(ann_id), "--json")["person"]["name"] == "Ann"  # by id
    cli("people", "rename", "Ann", "Amélie", "--json")  # by name
    assert cli("people", "show", "Amélie", "--json")["person"]["id"] == ann_id
    cli("people", "show", "Ann", "--json", code=2)  # gone by that name: an error, no traceback

    calibrated = cli("calibrate", "--json")
    assert calibrated["people"] == 2 and calibrated["faces"] == 4
    assert cli("reembed", "--json")["faces"] == 4
    status = cli("status", "--json")
    assert status["people"] == 2 and status["faces"] == 4

    cli("people", "merge", "Amélie", "Bob", "--json")
    assert [(p["name"], p["faces"]) for p in cli("people", "list", "--json")["people"]] == [
        ("Amélie", 4)]

    key = cli("keys", "create", "--scope", "read", "--name", "phone", "--json")
    assert key["key"].startswith("fp_")
    assert [k["name"] for k in cli("keys", "list", "--json")["keys"]] == ["phone"]
    cli("keys", "revoke", str(key["id"]), "--json")
    assert cli("keys", "list", "--json")["keys"] == []

    vectors = tmp_path / "v.npy"
    embedded = cli("embed", photo(lfw_dir, ann, 1), "/no/such.jpg", "--out", str(vectors),
                   "--json", code=1)
    assert [p["status"] for p in embedded["photos"]] == ["ok", "error"]
    array = np.load(vectors)
    assert array.shape == (2, embedded["dim"]) and np.isnan(array[1]).all()
    assert abs(float(np.linalg.norm(array[0])) - 1) < 1e-4


def test_bad_arguments_are_errors_not_tracebacks(cli, lfw_dir: Path) -> None:
    one = photo(lfw_dir, "Amelie_Mauresmo", 1)
    cli("enroll", "Ann", one, "--face", "left", code=2)  # not a choice
    cli("enroll", "Ann", one, "--box", "1,2,nan,4", code=2)  # the API's box check
    cli("enroll", "Ann", one, "--box", "10,10,5,5", code=2)
    cli("enroll", "George\u0001W", one, code=2)  # a control character in a name
    cli("verify", one, "person:nobody", code=2)
    cli("people", "delete", "nobody", code=2)
    assert cli("people", "list", "--json")["people"] == []  # nothing was half-made


def test_tag_then_name_a_group_of_unknown_faces(cli, lfw_dir: Path, tmp_path: Path) -> None:
    album = tmp_path / "album"
    album.mkdir()
    stranger = "Gerhard_Schroeder"  # 109 photos: enough of one stranger to form a group
    for i in range(1, 6):
        (album / f"{stranger}_{i}.jpg").write_bytes(Path(photo(lfw_dir, stranger, i)).read_bytes())
    (album / "notes.txt").write_text("not a photo")
    cli("enroll", "Ann", photo(lfw_dir, "Amelie_Mauresmo", 1), "--json")

    tagged = cli("tag", str(album), "--workers", "1", "--json")
    assert (tagged["photos"], tagged["skipped"], tagged["named"]) == (5, 1, 0)
    assert tagged["clusters"] >= 1
    # the folder became a root of its own, remembered for this host; named, it is the same
    roots = cli("roots", "list", "--json")["roots"]
    assert [(r["name"], r["folder"], r["source"]) for r in roots] == [
        ("album", str(album.resolve()), "home")] and tagged["root"] == "album"
    again = cli("tag", "album:", "--workers", "1", "--json")
    assert (again["photos"], again["unchanged"]) == (0, 5)
    cli("tag", "elsewhere:2020", "--json", code=2)  # no root of that name
    groups = cli("clusters", "list", "--json")["clusters"]
    biggest = groups[0]
    assert biggest["faces"] >= 3 and all(stranger in e for e in biggest["examples"])

    named = cli("clusters", "name", str(biggest["id"]), "Gerhard", "--json")
    assert named["person"]["name"] == "Gerhard" and named["enrolled_faces"] == biggest["faces"]
    people = {p["name"]: p["faces"] for p in cli("people", "list", "--json")["people"]}
    assert people == {"Ann": 1, "Gerhard": biggest["faces"]}
    assert biggest["id"] not in [g["id"] for g in cli("clusters", "list", "--json")["clusters"]]
    cli("clusters", "name", "999", "Nobody", "--json", code=2)  # no such group: a clear error
    cli("tag", str(tmp_path / "nowhere"), "--json", code=2)
    # the photos of the person the group became, newest first; nobody's: a clear error
    listed = cli("photos", "--person", "Gerhard", "--limit", "2", "--json")
    assert listed["count"] == biggest["photos"] and len(listed["photos"]) == 2
    assert [p["name"] for p in listed["people"]] == ["Gerhard"]
    cli("photos", "--person", "Gerhard", "--person", "nobody", "--json", code=2)
