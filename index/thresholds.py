"""The thresholds in force: for verify, the model card's; for identify, the gallery's own
estimate, the card's, or one set by hand.

The open-set (identify) threshold follows the gallery: once it holds enough faces, the
threshold at which `FACEPAIR_FPIR` of its own enrolled faces, each taken as a stranger to
everyone else, would be named (`index.calibration`), never looser than the model card's;
before that, the card's; `facepair calibrate --apply` sets one by hand.
"""

from __future__ import annotations

import math
import threading
import time

import numpy as np

from faces.errors import ModelError
from index.calibration import Estimate, Nearest, Row, estimate, rates, threshold_for
from index.errors import Refused
from index.matching import Matching
from index.replica import owner_name
from index.results import AtThresholdOut, CalibrationOut, InForceOut, StatusOut, ThresholdOut
from index.settings import IndexSettings
from index.store import Store

# Faces without nearest faces from which a request does not wait for the estimate
# (`Thresholds.estimate(wait=False)`): about a second of products on 2 cores.
BACKGROUND_FROM = 5_000
# the longest a process making the first estimate of a large gallery holds the work (every
# face against every other: about a minute at 100,000 faces, so over an hour at 1,000,000
# on 2 cores; another process takes over a lease that lapsed), and how often others ask again
ESTIMATE_LEASE = 3600.0
RETRY_SECONDS = 30.0


def threshold_at(thresholds: dict[str, float] | None, far: float) -> float:
    """A card's calibrated cosine threshold at `far`, log-interpolated between the rates it
    lists (and held at the nearest one outside them)."""
    points = sorted((float(k), float(v)) for k, v in (thresholds or {}).items())
    if not points:
        raise ModelError("the model card has no calibrated thresholds (export the model with "
                         "a view to measure them on)")
    logs = [math.log10(f) for f, _ in points]
    values = [v for _, v in points]
    return float(np.interp(math.log10(far), logs, values))


class Thresholds:
    """The thresholds of one model over one gallery. The identify estimate is kept until the
    gallery changes; thread-safe."""

    def __init__(self, store: Store, model: str, settings: IndexSettings,
                 card: dict[str, float] | None, matching: Matching) -> None:
        self.store, self.model, self.settings = store, model, settings
        self.card = card  # the model card's thresholds: pair false-accept rate → cosine
        self.matching = matching
        self._estimate: tuple[tuple[int, int], Estimate, dict[int, Row]] | None = None
        self._estimate_lock = threading.Lock()
        self._estimating: threading.Thread | None = None
        self._starting = threading.Lock()
        self._retry_at = 0.0  # (monotonic) until when another process makes the estimate

    def threshold(self, far: float | None = None) -> float:
        """The open-set (identify) threshold in force (see `estimate`); `far` asks for the
        card's at that pair false-accept rate instead."""
        if far is not None:
            return threshold_at(self.card, far)
        return self.estimate().threshold

    def card_threshold(self, faces: int | None = None) -> float:
        """The card's identify threshold. A stranger is compared with every enrolled face, so
        the chance that one is named grows with the gallery: at most about (faces × pair
        false-accept rate). The card's threshold at a pair rate of FPIR / faces holds that
        chance at `FACEPAIR_FPIR` for faces like those the card was measured on."""
        faces = max(1, len(self.matching.index) if faces is None else faces)
        return threshold_at(self.card, self.settings.fpir / faces)

    def verify_threshold(self) -> float:
        """The one-to-one threshold: the card's at `FACEPAIR_FAR` (1e-3)."""
        return threshold_at(self.card, self.settings.far)

    def estimate(self, wait: bool = True) -> Estimate:
        return self._estimated(wait)[0]

    def _estimated(self, wait: bool = True) -> tuple[Estimate, dict[int, Row]]:
        """The threshold in force, where it comes from (the gallery's own estimate, the
        card, or set by hand) and its estimated FPIR and FNIR over the enrolled faces. Kept
        until the gallery changes; the nearest faces behind it are updated incrementally.

        `wait=False` (a request being answered) never waits for a long update: while one
        runs, or when over `BACKGROUND_FROM` faces have no nearest faces yet (the first
        estimate of a large gallery, a minute at 100,000 faces), it is started on a thread
        of its own and the last estimate, or the card's threshold, answers meanwhile.
        `_estimated` also gives the nearest-face rows behind it (`calibrate` reads them)."""
        self.matching.sync()
        key = (self.matching.seen, len(self.matching.index))
        cached = self._estimate
        if cached is not None and cached[0] == key:
            return cached[1], cached[2]
        if not wait and (self._estimate_lock.locked() or time.monotonic() < self._retry_at
                         or self.store.embeddings.without_nearest(self.model) > BACKGROUND_FROM):
            if self.store.meta.get(f"threshold:{self.model}") is None:
                self._estimate_in_background()  # (a threshold set by hand needs no estimate)
            return (cached[1], cached[2]) if cached is not None else (self._in_force({}), {})
        with self._estimate_lock:
            cached = self._estimate
            if cached is not None and cached[0] == key:
                return cached[1], cached[2]
            rows = self._nearest()
            result = self._in_force(rows)
            self._estimate = (key, result, rows)
        return result, rows

    def _in_force(self, rows: dict[int, Row]) -> Estimate:
        """The estimate from these rows (none: the card's threshold, or the one set by hand)."""
        own = self.store.meta.get(f"threshold:{self.model}")
        return estimate(rows, self.matching.person_count(), self.settings.fpir,
                        self.card_threshold(), None if own is None else float(own),
                        len(self.matching.index))

    def _nearest(self) -> dict[int, Row]:
        """Every enrolled face's nearest faces (`index.calibration.Nearest`), up to date."""
        return Nearest(self.store, self.model).refresh(*self.matching.embedded())

    def _estimate_in_background(self) -> None:
        with self._starting:
            if time.monotonic() < self._retry_at:
                return
            if self._estimating is None or not self._estimating.is_alive():
                self._estimating = threading.Thread(target=self._estimate_for_all, daemon=True,
                                                    name="gallery-estimate")
                self._estimating.start()

    def _estimate_for_all(self) -> None:
        """The long first estimate of a large gallery, made by one process of all (under a
        lease in the store): its nearest-face rows land in the store, where every other
        process reads them. A process that finds the lease held asks again later."""
        lease, owner = f"estimate:{self.model}", owner_name()
        if not self.store.meta.take_lease(lease, owner, ESTIMATE_LEASE):
            self._retry_at = time.monotonic() + RETRY_SECONDS
            return
        try:
            self.estimate()
        finally:
            self.store.meta.release_lease(lease, owner)

    def status(self, wait: bool = True) -> StatusOut:
        """The model, the gallery's size and the thresholds in force."""
        in_force = self.estimate(wait)
        counts = self.store.meta.counts()
        return StatusOut(collection=self.store.collection, model=self.model,
                         people=counts["people"], faces=counts["faces"],
                         verify_threshold=self.verify_threshold(),
                         identify=ThresholdOut.of(in_force))

    def calibrate(self, target_fpir: float = 0.01, apply: bool = False) -> CalibrationOut:
        """How often a stranger would be named, estimated from the enrolled people themselves
        (`index.calibration`): at the threshold in force, the card's, and the threshold that
        names `target_fpir` of them; `apply` sets the last by hand (it then stays in force
        until `reset_threshold`)."""
        in_force, rows = self._estimated()
        if not rows:
            raise Refused("too_few_people", "calibration needs at least two enrolled people")
        impostor = np.array([r[0] for r in rows.values()])
        suggested = max(threshold_for(impostor, target_fpir), -1.0)
        owners = self.matching.owners()
        people = len({owners.get(f) for f in rows} - {None})

        def at(t: float) -> dict:
            fpir, fnir = rates(rows, t)
            return {"threshold": t, "fpir": fpir.value, "fnir": fnir.value if fnir.of else None}

        current = InForceOut(**at(in_force.threshold), source=in_force.source)
        card, best = AtThresholdOut(**at(self.card_threshold())), AtThresholdOut(**at(suggested))
        rough = {}  # no warning: the field is left unset
        if len(rows) * target_fpir < 10:
            rough["warning"] = (f"only {len(rows)} enrolled faces: fewer than 10 false "
                                f"identifications expected at {target_fpir:g}, so the "
                                "suggested threshold is a rough estimate")
        if apply:
            self.store.meta.set(f"threshold:{self.model}", repr(suggested), model=self.model)
        return CalibrationOut(
            model=self.model, people=people, faces=len(rows),
            probes_with_genuine=sum(r[2] is not None for r in rows.values()),
            current=current, card=card, target_fpir=target_fpir, suggested=best,
            applied=apply, **rough)

    def reset_threshold(self) -> None:
        """Back to the model card's threshold at the target false-accept rate."""
        self.store.meta.delete(f"threshold:{self.model}", model=self.model)
