"""The gallery with the real detector and the shipped model on LFW DevTest people (evaluation
only: nothing here trains or tunes on them)."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from faces.decode import decode
from faces.errors import NotFound
from index.errors import Conflict, Refused
from index.gallery import Gallery
from index.search import FaceIndex
from index.thresholds import threshold_at
from tests.conftest import paste

FACEPAIR = str(Path(sys.executable).parent / "facepair")  # the venv's, whatever PATH says
# DevTest people with many photos (LFW View 1 evaluation people)
ALVARO, AMELIE, CARLOS, ABDULLAH = "Alvaro_Uribe", "Amelie_Mauresmo", "Carlos_Moya", "Abdullah_Gul"
STRANGERS = ["Adrien_Brody", "Ann_Veneman", "Bill_Frist", "Celine_Dion", "Ana_Palacio"]


@pytest.fixture(scope="module")
def models(detector):
    from faces.embed import Embedder

    return detector, Embedder()


@pytest.fixture
def gallery(tmp_path: Path, models):
    detector, embedder = models
    g = Gallery(home=tmp_path, detector=detector, embedder=embedder)
    yield g
    g.close()


@pytest.fixture
def any_gallery(tmp_path: Path, models, store_location: str):
    """A gallery over each backend's store: SQLite, then PostgreSQL."""
    from index.settings import IndexSettings

    detector, embedder = models
    g = Gallery(IndexSettings(home=tmp_path, store=store_location), detector=detector,
                embedder=embedder)
    yield g
    g.close()


def photo(lfw: Path, name: str, i: int) -> Path:
    return lfw / name / f"{name}_{i:04d}.jpg"


def png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def side_by_side(*photos: Path) -> bytes:
    """One 250-high photo of several LFW photos next to each other (their central faces)."""
    return png_bytes(np.concatenate([decode(p)[:, 40:210] for p in photos], axis=1))


def names(g: Gallery, path: Path | bytes) -> list[str]:
    """The people named in a photo (LFW photos may show others, unknown, behind)."""
    return [m.person.name for m in g.identify(path) if m.person is not None]


def enroll_three(g: Gallery, lfw: Path, *names: str) -> None:
    for name in names:
        for i in (1, 2, 3):
            g.enroll(name, photo(lfw, name, i), face="center")


def test_enroll_identify_verify(any_gallery: Gallery, lfw_dir: Path) -> None:
    enroll_three(any_gallery, lfw_dir, ALVARO, AMELIE, CARLOS)
    assert [p.faces for p in any_gallery.people()] == [3, 3, 3]
    for name in (ALVARO, AMELIE, CARLOS):
        for i in (5, 6):
            (match,) = [m for m in any_gallery.identify(photo(lfw_dir, name, i))
                        if m.person is not None] or [None]
            assert match is not None and match.person.name == name, (name, i)
            assert match.score >= any_gallery.threshold()
            assert match.candidates[0].person.name == name
    same = any_gallery.verify(photo(lfw_dir, AMELIE, 7), photo(lfw_dir, AMELIE, 8))
    other = any_gallery.verify(photo(lfw_dir, AMELIE, 7), photo(lfw_dir, CARLOS, 8))
    assert same.same and not other.same
    assert same.threshold == pytest.approx(threshold_at(any_gallery.embedder.card.thresholds,
                                                           1e-3), abs=1e-4)
    carlos = any_gallery.find_person(CARLOS).id
    assert any_gallery.verify(photo(lfw_dir, CARLOS, 9), carlos).same
    assert not any_gallery.verify(photo(lfw_dir, ALVARO, 9), carlos).same


def test_strangers_are_unknown(gallery: Gallery, lfw_dir: Path) -> None:
    enroll_three(gallery, lfw_dir, ALVARO, AMELIE, CARLOS, ABDULLAH)
    named = []
    for name in STRANGERS:
        for i in (1, 2):
            for m in gallery.identify(photo(lfw_dir, name, i)):
                named.append(m.person)
    assert len(named) >= 10 and named == [None] * len(named)


def test_refusals_name_the_reason(gallery: Gallery, lfw_dir: Path) -> None:
    with pytest.raises(Refused) as no_face:
        gallery.enroll("Nobody", png_bytes(np.full((200, 200, 3), 90, np.uint8)))
    assert no_face.value.code == "no_face"
    pair = side_by_side(photo(lfw_dir, ALVARO, 1), photo(lfw_dir, AMELIE, 1))
    with pytest.raises(Refused) as several:
        gallery.enroll(ALVARO, pair)
    assert several.value.code == "several_faces"
    small = np.asarray(Image.fromarray(decode(photo(lfw_dir, ALVARO, 2))).resize((90, 90)))
    canvas = paste((300, 300), small, (100, 100))
    with pytest.raises(Refused) as tiny:
        gallery.enroll(ALVARO, png_bytes(canvas))
    assert tiny.value.code == "face_too_small"
    gallery.enroll(ALVARO, photo(lfw_dir, ALVARO, 1))
    with pytest.raises(Refused) as again:
        gallery.enroll(ALVARO, photo(lfw_dir, ALVARO, 1))
    assert again.value.code == "duplicate_photo"
    # the caller names the face: the right one of the pair is Amelie's
    face = gallery.enroll(AMELIE, pair, box=[170, 0, 340, 250])
    assert face.box[0] > 170
    assert [p.faces for p in gallery.people()] == [1, 1]
    with pytest.raises(Conflict):
        gallery.update_person(gallery.find_person(ALVARO).id, name=AMELIE)
    with pytest.raises(NotFound):
        gallery.delete_person(12345)


def test_joint_assignment_never_names_one_person_twice(gallery: Gallery, lfw_dir: Path) -> None:
    """A photo of Carlos was enrolled under Amelie's name by mistake, so Carlos's face scores
    Amelie a little higher than himself; in a photo of the two of them, per-face argmax names
    Amelie twice, the joint assignment names both right."""
    probe = photo(lfw_dir, CARLOS, 10)
    vectors = {}
    for i in range(1, 8):
        face = gallery.detector.detect(decode(photo(lfw_dir, CARLOS, i)))
        vectors[i] = gallery.embedder.embed_faces(decode(photo(lfw_dir, CARLOS, i)), face[:1])[0]
    query = gallery.faces_in(decode(probe))[1][0]
    closest = max(vectors, key=lambda i: float(vectors[i] @ query))
    for i in (1, 2, 3):
        gallery.enroll(AMELIE, photo(lfw_dir, AMELIE, i), face="center")
    gallery.enroll(AMELIE, photo(lfw_dir, CARLOS, closest), face="center")  # the mistake
    for i in [i for i in vectors if i != closest][:3]:
        gallery.enroll(CARLOS, photo(lfw_dir, CARLOS, i), face="center")

    both = side_by_side(photo(lfw_dir, AMELIE, 10), probe)
    faces, embedded = gallery.faces_in(decode(both))
    assert len(faces) == 2
    argmax = [c[0].person.name for c in gallery.person_scores(embedded, 5)]
    assert argmax == [AMELIE, AMELIE]
    order = np.argsort([f.box[0] for f in faces])
    matches = gallery.match(faces, embedded)
    names = [matches[i].person.name if matches[i].person else None for i in order]
    assert names == [AMELIE, CARLOS]


def test_persists_across_restart_and_rebuilds_a_lost_index(tmp_path: Path, models,
                                                           lfw_dir: Path) -> None:
    detector, embedder = models
    with Gallery(home=tmp_path, detector=detector, embedder=embedder) as g:
        enroll_three(g, lfw_dir, ALVARO, AMELIE)
    with Gallery(home=tmp_path, detector=detector, embedder=embedder) as g:
        assert g.index.load(g.index_path, g.store.changes.head())
        assert names(g, photo(lfw_dir, AMELIE, 12)) == [AMELIE]
    for saved in (tmp_path / "index").glob("*.faiss"):
        saved.unlink()
    with Gallery(home=tmp_path, detector=detector, embedder=embedder) as g:
        assert len(g.index) == 6
        assert names(g, photo(lfw_dir, ALVARO, 12)) == [ALVARO]


KILL_CHILD = """
import sys
from pathlib import Path
from index.gallery import Gallery
g = Gallery(home=Path(sys.argv[1]))
print("ready", flush=True)
for path in sys.argv[2:]:
    face = g.enroll(Path(path).parent.name, Path(path), face="center")
    print("ack", face.id, path, flush=True)
"""


def test_kill_9_during_enrollments_loses_nothing_acknowledged(tmp_path: Path, models,
                                                              lfw_dir: Path) -> None:
    photos = [photo(lfw_dir, n, i) for n in (ALVARO, AMELIE, CARLOS) for i in range(1, 9)]
    child = subprocess.Popen(
        [sys.executable, "-c", KILL_CHILD, str(tmp_path), *map(str, photos)],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"},
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert child.stdout is not None
    acked: dict[int, str] = {}
    for line in child.stdout:
        if line.startswith("ack"):
            _, face_id, path = line.split(maxsplit=2)
            acked[int(face_id)] = path.strip()
            if len(acked) == 7:
                child.send_signal(signal.SIGKILL)
                break
    child.wait(timeout=60)
    assert child.returncode == -signal.SIGKILL and len(acked) == 7
    detector, embedder = models
    with Gallery(home=tmp_path, detector=detector, embedder=embedder) as g:
        for face_id, path in acked.items():
            face = g.store.faces.get(face_id)
            assert face.source == path
            assert g.store.people.get(face.person_id).name == Path(path).parent.name
        assert len(g.index) >= 7  # rebuilt from the store: the saved index was stale
        assert names(g, photo(lfw_dir, ALVARO, 20)) == [ALVARO]


def test_hard_delete_leaves_no_trace(gallery: Gallery, lfw_dir: Path) -> None:
    enroll_three(gallery, lfw_dir, ALVARO)
    secret = "Zelda Quux-Secret"
    for i in (1, 2, 3):
        gallery.enroll(secret, photo(lfw_dir, AMELIE, i), note="note-SECRETNOTE")
    person = gallery.find_person(secret)
    faces = gallery.store.faces.of_person(person.id)
    chips = [c.jpeg for c in gallery.store.faces.chips([f.id for f in faces])]
    embedded = gallery.store.embeddings.of_model(gallery.model)
    people, vectors = embedded.person_ids, embedded.vectors
    theirs = vectors[people == person.id]
    gallery.save()
    traces = [secret.encode(), b"SECRETNOTE", AMELIE.encode()]
    traces += [c[len(c) // 2 : len(c) // 2 + 64] for c in chips]
    traces += [v.astype("<f4").tobytes()[:64] for v in theirs]
    files = lambda: [p for p in gallery.home.rglob("*") if p.is_file()]  # noqa: E731
    blob = b"".join(p.read_bytes() for p in files())
    assert all(t in blob for t in traces)  # they were there

    gallery.delete_person(person.id)
    blob = b"".join(p.read_bytes() for p in files())
    left = [t[:20] for t in traces if t in blob]
    assert left == [], f"traces left in {[p.name for p in files()]}: {left}"
    assert len(gallery.index) == 3
    ids = gallery.index.search(theirs, 3)[1]
    assert set(ids.ravel().tolist()) <= {f.id for f in gallery.store.faces.of_person(
        gallery.find_person(ALVARO).id)}
    assert names(gallery, photo(lfw_dir, AMELIE, 4)) == []


def test_rename_merge_remove_face(any_gallery: Gallery, lfw_dir: Path) -> None:
    enroll_three(any_gallery, lfw_dir, ALVARO)
    any_gallery.enroll("Alvaro again", photo(lfw_dir, ALVARO, 4))
    keep, other = any_gallery.find_person(ALVARO).id, any_gallery.find_person("Alvaro again").id
    merged = any_gallery.merge(keep, other)
    assert merged.faces == 4 and len(any_gallery.people()) == 1
    assert any_gallery.update_person(keep, name="Álvaro Uribe").name == "Álvaro Uribe"
    face = any_gallery.store.faces.of_person(keep)[-1]
    any_gallery.remove_face(face.id)
    assert any_gallery.store.people.get(keep).faces == 3 and len(any_gallery.index) == 3
    assert names(any_gallery, photo(lfw_dir, ALVARO, 5)) == ["Álvaro Uribe"]


def test_reembed_and_model_change_keep_labels(tmp_path: Path, models, lfw_dir: Path) -> None:
    import torch

    from faces.backbones import build
    from faces.embed import Embedder
    from training.export import write_model

    detector, embedder = models
    with Gallery(home=tmp_path, detector=detector, embedder=embedder) as g:
        enroll_three(g, lfw_dir, ALVARO, AMELIE)
        before = g.store.embeddings.of_model(g.model)
        result = g.reembed()
        after = g.store.embeddings.of_model(g.model)
        assert result.faces == 6
        np.testing.assert_array_equal(before.face_ids, after.face_ids)
        np.testing.assert_array_equal(before.person_ids, after.person_ids)
        # the stored chips: the same vectors
        assert (before.vectors * after.vectors).sum(1).min() > 0.9999
    # another model (a small untrained network): labels stay, embeddings are remade
    torch.manual_seed(0)
    other = build({"name": "resnet_face", "widths": [8, 16, 16, 32], "embedding_size": 64,
                   "input_size": 112})
    card = {"name": "tiny-test", "architecture": {"name": "resnet_face",
            "widths": [8, 16, 16, 32], "embedding_size": 64, "input_size": 112},
            "input_size": 112, "embedding_size": 64,
            "normalisation": {"mean": [127.5] * 3, "std": [128.0] * 3},
            "thresholds": {"1e-3": 0.99}}
    write_model(other, card, tmp_path / "models", views=())
    tiny = Embedder(tmp_path / "models" / "tiny-test")
    with Gallery(home=tmp_path, detector=detector, embedder=tiny) as g:
        assert g.store.meta.counts()["embeddings"] == 12  # both models' vectors
        assert g.reembed().dropped_other_models == 6
        assert sorted((p.name, p.faces) for p in g.people()) == [(ALVARO, 3), (AMELIE, 3)]
    with Gallery(home=tmp_path, detector=detector, embedder=embedder) as g:
        assert len(g.index) == 6
        assert names(g, photo(lfw_dir, AMELIE, 15)) == [AMELIE]


def test_enroll_and_identify_from_several_threads(any_gallery: Gallery, lfw_dir: Path) -> None:
    any_gallery.enroll(ALVARO, photo(lfw_dir, ALVARO, 1))
    errors: list[BaseException] = []
    lock = threading.Lock()

    def work(job: tuple[str, int]) -> str:
        kind, i = job
        try:
            if kind == "enroll":
                any_gallery.enroll(CARLOS if i % 2 else AMELIE, photo(lfw_dir, CARLOS if i % 2
                                                                  else AMELIE, i))
                return ""
            return ",".join(names(any_gallery, photo(lfw_dir, ALVARO, i)))
        except BaseException as exc:
            with lock:
                errors.append(exc)
            raise

    jobs = [("enroll", i) for i in range(1, 9)] + [("identify", i) for i in range(2, 10)]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(work, jobs))
    assert not errors
    assert sorted((p.name, p.faces) for p in any_gallery.people()) == [
        (ALVARO, 1), (AMELIE, 4), (CARLOS, 4)]
    assert len(any_gallery.index) == 9
    assert results[8:].count(ALVARO) >= 6


def test_calibrate_reports_false_identifications(gallery: Gallery, lfw_dir: Path) -> None:
    enroll_three(gallery, lfw_dir, ALVARO, AMELIE, CARLOS, ABDULLAH)
    result = gallery.calibrate(0.05)
    assert result.people == 4 and result.faces == 12
    assert 0 <= result.current.fpir <= 0.05 and result.current.fnir <= 0.2
    assert result.suggested.fpir <= 0.05 and result.warning
    applied = gallery.calibrate(0.05, apply=True)
    assert gallery.threshold() == pytest.approx(applied.suggested.threshold, abs=1e-4)
    gallery.reset_threshold()
    assert gallery.threshold() == pytest.approx(result.current.threshold, abs=1e-4)


def test_index_exact_and_ivf_agree_and_forget(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(500, 64)).astype(np.float32)
    vectors = centres[rng.integers(0, 500, 20_000)] + 0.3 * rng.normal(size=(20_000, 64))
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    ids = np.arange(20_000, dtype=np.int64) + 7
    exact = FaceIndex(64, ann_min_faces=10**9)
    ivf = FaceIndex(64, ann_min_faces=1000, nprobe=16, ivf_min_faces=1000)
    exact.rebuild(ids, vectors)
    ivf.rebuild(ids, vectors)
    assert (exact.kind, ivf.kind) == ("exact", "ivf")
    queries = vectors[:200] + 0.05 * rng.normal(size=(200, 64)).astype(np.float32)
    top_exact, top_ivf = exact.search(queries, 1)[1], ivf.search(queries, 1)[1]
    assert (top_exact == top_ivf).mean() >= 0.95
    for index in (exact, ivf):
        index.remove(ids[:100])
        assert len(index) == 19_900 and not set(index.search(vectors[:100], 5)[1].ravel()) & set(
            ids[:100].tolist())
        index.save(tmp_path / f"{index.kind}.faiss", 3)
        fresh = FaceIndex(64)
        assert not fresh.load(tmp_path / f"{index.kind}.faiss", 4)  # stale
        assert fresh.load(tmp_path / f"{index.kind}.faiss", 3) and len(fresh) == 19_900


def test_cli_enroll_identify_json(tmp_path: Path, lfw_dir: Path) -> None:
    env = {**os.environ, "FACEPAIR_HOME": str(tmp_path)}

    def run(*args: str) -> tuple[int, dict]:
        p = subprocess.run([FACEPAIR, *args, "--json"], capture_output=True, text=True,
                           env=env, timeout=300)
        return p.returncode, json.loads(p.stdout.strip().splitlines()[-1])

    code, enrolled = run("enroll", "Amélie", *(str(photo(lfw_dir, AMELIE, i)) for i in (1, 2)))
    assert code == 0 and enrolled["enrolled"] == 2 and enrolled["person"]["faces"] == 2
    text = tmp_path / "notes.txt"
    text.write_text("not a photo")
    code, found = run("identify", str(photo(lfw_dir, AMELIE, 3)), str(photo(lfw_dir, CARLOS, 1)),
                      str(text))
    assert code == 1
    first, second, bad = found["photos"]
    assert first["faces"][0]["person"]["name"] == "Amélie"
    assert {"box", "person", "score", "candidates"} <= set(first["faces"][0])
    assert second["faces"][0]["person"] is None
    assert bad["error"]["code"] == "unsupported_photo"
    code, missing = run("people", "delete", "Nobody")
    assert code == 2 and missing["error"]["code"] == "not_found"


def test_two_processes_on_one_store_stay_in_step(tmp_path: Path, models, lfw_dir: Path) -> None:
    """Two galleries on one home (as two service workers, or the service and the CLI): what one
    writes, the other sees at its next search."""
    detector, embedder = models
    with (Gallery(home=tmp_path, detector=detector, embedder=embedder) as one,
          Gallery(home=tmp_path, detector=detector, embedder=embedder) as two):
        enroll_three(one, lfw_dir, CARLOS)
        assert names(two, photo(lfw_dir, CARLOS, 11)) == [CARLOS]
        two.enroll(AMELIE, photo(lfw_dir, AMELIE, 1))
        two.update_person(two.find_person(CARLOS).id, name="Carlos")
        assert names(one, photo(lfw_dir, CARLOS, 11)) == ["Carlos"]
        assert names(one, photo(lfw_dir, AMELIE, 2)) == [AMELIE]
        one.delete_person(one.find_person(AMELIE).id)
        assert names(two, photo(lfw_dir, AMELIE, 2)) == []
        assert len(two.index) == 3


@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="needs a CUDA GPU")
def test_gpu_search_gives_the_cpu_results() -> None:
    rng = np.random.default_rng(1)
    vectors = rng.standard_normal((5000, 128)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = np.arange(5000, dtype=np.int64) * 3 + 1
    cpu, gpu = FaceIndex(128), FaceIndex(128, use_gpu=True)
    for index in (cpu, gpu):
        index.rebuild(ids, vectors)
        index.remove(ids[:10])
    assert gpu.use_gpu and not cpu.use_gpu
    queries = vectors[:50] + 0.1 * rng.standard_normal((50, 128)).astype(np.float32)
    (s_cpu, i_cpu), (s_gpu, i_gpu) = cpu.search(queries, 5), gpu.search(queries, 5)
    np.testing.assert_array_equal(i_cpu, i_gpu)
    np.testing.assert_allclose(s_cpu, s_gpu, atol=1e-4)


def test_enrollment_picks_the_face_that_matches_the_other_photos(tmp_path: Path, models,
                                                                  lfw_dir: Path) -> None:
    """`facepair enroll` of three photos, one with a second face in it: the face that
    matches the other two is enrolled; a photo of several faces none of which is the person
    is refused."""
    env = {**os.environ, "FACEPAIR_HOME": str(tmp_path)}
    detector = models[0]
    brody = [str(photo(lfw_dir, "Adrien_Brody", i)) for i in (1, 2, 3)]
    assert len(detector.detect(decode(Path(brody[1])))) >= 2  # photo 2 shows someone else too
    p = subprocess.run([FACEPAIR, "enroll", "Adrien Brody", *brody, "--json"],
                       capture_output=True, text=True, env=env, timeout=300)
    result = json.loads(p.stdout.strip().splitlines()[-1])
    assert p.returncode == 0 and result["enrolled"] == 3, result
    x1, y1, x2, y2 = result["photos"][1]["face"]["box"]
    assert abs((x1 + x2) / 2 - 125) < 30 and abs((y1 + y2) / 2 - 125) < 30  # LFW's labelled face
    other = str(photo(lfw_dir, ABDULLAH, 6))  # two faces, neither of them Adrien Brody
    assert len(detector.detect(decode(Path(other)))) >= 2
    p = subprocess.run([FACEPAIR, "enroll", "Adrien Brody", other, "--json"],
                       capture_output=True, text=True, env=env, timeout=300)
    refused = json.loads(p.stdout.strip().splitlines()[-1])["photos"][0]
    assert p.returncode == 1 and refused["error"]["code"] == "several_faces"
    assert "none of them matches" in refused["error"]["message"]


def test_an_enrolled_person_is_found_in_a_photo_of_several(gallery: Gallery,
                                                            lfw_dir: Path) -> None:
    pair = side_by_side(photo(lfw_dir, ALVARO, 2), photo(lfw_dir, AMELIE, 1))
    with pytest.raises(Refused) as unknown:  # nothing yet says which face is Alvaro
        gallery.enroll(ALVARO, pair)
    assert unknown.value.code == "several_faces"
    gallery.enroll(ALVARO, photo(lfw_dir, ALVARO, 1))
    face = gallery.enroll(ALVARO, pair)  # now his enrolled face does
    assert face.box[2] < 170 and face.person.faces == 2


def test_a_tight_headshot_can_be_enrolled(gallery: Gallery, lfw_dir: Path) -> None:
    from bench.detect_coverage import tight_crop

    for name, i in ((ALVARO, 1), (AMELIE, 1)):
        whole = decode(photo(lfw_dir, name, i))
        (face,) = gallery.detector.detect(whole)[:1]
        crop, _ = tight_crop(whole, face.box)
        gallery.enroll(name, png_bytes(crop))
    matches = [m for m in gallery.identify(photo(lfw_dir, ALVARO, 3)) if m.person]
    assert [m.person.name for m in matches] == [ALVARO]


def test_ids_are_never_given_twice(tmp_path: Path) -> None:
    """SQLite gives the highest id again once its row is deleted: a client holding the id of
    a deleted person would then reach someone else. People, photos and faces never reuse one."""
    from index.store import NewFace, Store

    store = Store(tmp_path / "gallery.sqlite3")
    with store.transaction():
        first = store.people.add("Ann")
        photo = store.faces.add_photo("ab" * 32, "a.jpg", 10, 10)
        face = store.faces.add(NewFace(photo, first, [0, 0, 5, 5], [[1, 1]] * 5, 0.9, 1.0,
                                       b"c", [[1, 1]] * 5))
    store.people.delete(first)
    with store.transaction():
        second = store.people.add("Bob")
        photo2 = store.faces.add_photo("cd" * 32, "b.jpg", 10, 10)
        face2 = store.faces.add(NewFace(photo2, second, [0, 0, 5, 5], [[1, 1]] * 5, 0.9, 1.0,
                                        b"c", [[1, 1]] * 5))
    assert (second, photo2, face2) == (first + 1, photo + 1, face + 1)
    store.close()
    reopened = Store(tmp_path / "gallery.sqlite3")
    assert reopened.people.add("Cy") == second + 1
    reopened.close()
