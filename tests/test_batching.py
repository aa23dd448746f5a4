"""The identify batcher on real photos: a request that gave up never stops it."""

from __future__ import annotations

from pathlib import Path

from faces.decode import decode
from index.gallery import Gallery
from service.batching import IdentifyBatcher, Job


def test_a_cancelled_request_is_skipped_and_the_batcher_keeps_answering(
        tmp_path: Path, lfw_dir: Path, detector) -> None:
    g = Gallery(home=tmp_path, detector=detector)
    name = "Amelie_Mauresmo"
    g.enroll(name, lfw_dir / name / f"{name}_0001.jpg")
    batcher = IdentifyBatcher(g, max_batch=4, wait_ms=50)
    try:
        photo = decode(lfw_dir / name / f"{name}_0002.jpg")
        gave_up = Job(photo, None, None)
        gave_up.future.cancel()  # timed out before the batcher took it
        batcher.queue.put(gave_up)
        answer = batcher.submit(photo).result(timeout=120)
        assert [m.person.name for m in answer if m.person] == [name]
        assert batcher.alive
        # a photo the networks cannot take fails alone; the next one is still answered
        broken = batcher.submit(photo[:, :, 0])  # not H×W×3: the detector refuses it
        assert broken.exception(timeout=120) is not None
        again = batcher.submit(photo).result(timeout=120)
        assert [m.person.name for m in again if m.person] == [name] and batcher.alive
    finally:
        batcher.close()
        g.close()
