"""Bootstrap intervals of open-set figures (`bench.intervals`): the point figure is the one
`bench.open_set` reports, a system compared with itself differs by exactly nothing, and the
threshold never names more strangers than the FPIR allows."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.intervals import Scores, _fnir, fnir_at_fpir, paired
from bench.open_set import summarise


@st.composite
def scores(draw) -> Scores:
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    mated, strangers = draw(st.integers(20, 300)), draw(st.integers(100, 600))
    mated_best = rng.normal(draw(st.floats(0.3, 0.8)), 0.1, mated).round(draw(st.integers(1, 4)))
    stranger_best = rng.normal(0.2, 0.1, strangers).round(2)  # ties among strangers
    mated_best[rng.random(mated) < 0.05] = np.nan  # no face found
    stranger_best[rng.random(strangers) < 0.05] = np.nan
    higher = draw(st.booleans())
    sign = 1 if higher else -1
    return Scores(sign * mated_best, rng.random(mated) < 0.9, sign * stranger_best, higher)


@settings(max_examples=40, deadline=None)
@given(scores())
def test_the_point_figure_is_open_sets(s: Scores) -> None:
    figures = summarise(s.mated_best, s.mated_right, s.stranger_best, 0.5, s.higher_is_closer)
    assert figures["fnir_at_fpir"]["0.01"]["fnir"] == figures["at_fpir_1pct"]["fnir"]


@settings(max_examples=40, deadline=None)
@given(scores(), st.sampled_from([0.01, 0.02, 0.05]))
def test_no_more_strangers_named_than_the_fpir_allows(s: Scores, fpir: float) -> None:
    mated, strangers = s.closeness()
    k = int(fpir * len(strangers))
    kth = -np.partition(-strangers, k)[k]
    assert (strangers >= np.nextafter(kth, np.inf)).sum() <= k
    fnir = _fnir(mated[None], s.mated_right[None], strangers[None], fpir)[0]
    assert 0.0 <= fnir <= 1.0


@settings(max_examples=20, deadline=None)
@given(scores())
def test_a_system_against_itself_differs_by_nothing(s: Scores) -> None:
    same = paired(s, s, resamples=200)
    assert all(v == {"difference": 0.0, "low": 0.0, "high": 0.0} for v in same.values())
    spread = fnir_at_fpir(s, resamples=200)
    assert all(v["low"] <= v["high"] for v in spread.values())
    assert spread == fnir_at_fpir(s, resamples=200)  # the same seed, the same figures
