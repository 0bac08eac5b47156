"""Item analysis on the hand-computed cohort of tests/mentor_world.py, and the SVG charts.

The six attempts score 4/5, 3/5, 3/5, 2/5, 2/5, 2/5 (s1…s6): mean 8/15, population
variance 1/45, so sd = 1/(3√5). Two attempts per group (round(0.27 * 6) = 2):
upper = s1, s2 (s2 before s3 by attempt id); lower = s5, s6.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

import pytest

from mentors import analytics, svg
from mentors.analytics import (
    NEGATIVE_DISCRIMINATION,
    SUSPECT_KEY,
    TOO_EASY,
    TOO_HARD,
    UNUSED_DISTRACTOR,
    AttemptData,
    ItemSpec,
    Response,
)
from tests.mentor_world import CHOICES, KEYS, OBJECTIVES

DASH = "\N{EN DASH}"  # the histogram labels its bins "40<en dash>50%"

POSITION = {"principles": 0, "connect": 1}


def option_id(item: int, letter: str) -> int:
    return item * 10 + "ABC".index(letter)


def cohort() -> tuple[list[ItemSpec], list[AttemptData]]:
    items = [
        ItemSpec(
            id=i,
            options=tuple(option_id(i, letter) for letter in "ABC"),
            correct=frozenset(option_id(i, letter) for letter in KEYS[key]),
            objective=OBJECTIVES[key],
            objective_position=POSITION[OBJECTIVES[key]],
        )
        for i, key in enumerate(KEYS, start=1)
    ]
    attempts = []
    for student in range(6):
        responses = []
        for i, key in enumerate(KEYS, start=1):
            letters = CHOICES[key][student]
            chosen = frozenset(option_id(i, letter) for letter in letters)
            responses.append(Response(i, chosen, set(letters) == set(KEYS[key])))
        attempts.append(AttemptData(100 + student, tuple(responses)))
    return items, attempts


@pytest.fixture
def report() -> analytics.Analysis:
    items, attempts = cohort()
    return analytics.analyse(items, attempts)


def stats(report: analytics.Analysis, item: int) -> analytics.ItemStats:
    return report.items[item - 1]


def picks(item: analytics.ItemStats) -> dict[str, tuple[float, float | None, float | None]]:
    return {o.label: (o.picked, o.upper, o.lower) for o in item.options}


def codes(item: analytics.ItemStats) -> list[str]:
    return [f.code for f in item.flags]


def test_the_cohort_scores_and_groups_are_as_computed_by_hand():
    _, attempts = cohort()
    assert [a.score for a in attempts] == [Fraction(n, 5) for n in (4, 3, 3, 2, 2, 2)]
    upper, lower = analytics.upper_lower(attempts)
    assert [a.id for a in upper] == [100, 101]
    assert [a.id for a in lower] == [104, 105]
    assert [analytics.group_size(n) for n in (0, 1, 2, 3, 4, 6, 10, 100)] == [
        0,
        0,
        1,
        1,
        1,
        2,
        3,
        27,
    ]


def test_a_miskeyed_question_is_flagged_as_suspect_key_unused_distractor_and_negative(report):
    q1 = stats(report, 1)
    assert q1.responses == 6
    assert q1.facility == 0.5
    assert (q1.upper_facility, q1.lower_facility, q1.discrimination) == (0.0, 1.0, -1.0)
    # M1 = 2/5 (s4-s6), M0 = 2/3 (s1-s3), p = 1/2: (-4/15) · 3√5 · 1/2 = -2/√5.
    assert q1.point_biserial == pytest.approx(-2 / math.sqrt(5))
    assert picks(q1) == {"A": (0.5, 0.0, 1.0), "B": (0.5, 1.0, 0.0), "C": (0.0, 0.0, 0.0)}
    assert codes(q1) == [SUSPECT_KEY, UNUSED_DISTRACTOR, NEGATIVE_DISCRIMINATION]
    assert "2 of 2 students in the upper group chose B" in q1.flags[0].message
    assert "chose C" in q1.flags[1].message
    assert "D -1.00, r_pb -0.89" in q1.flags[2].message


def test_a_question_everyone_gets_right_is_too_easy_with_two_unused_distractors(report):
    q2 = stats(report, 2)
    assert q2.facility == 1.0
    assert q2.discrimination == 0.0
    assert q2.point_biserial is None  # nobody was wrong: no correlation to compute
    assert picks(q2) == {"A": (1.0, 1.0, 1.0), "B": (0.0, 0.0, 0.0), "C": (0.0, 0.0, 0.0)}
    assert codes(q2) == [UNUSED_DISTRACTOR, UNUSED_DISTRACTOR, TOO_EASY]
    assert "100% answered it right (flagged above 90%)" in q2.flags[2].message


def test_a_well_discriminating_multiple_choice_question_gets_no_flag(report):
    q3 = stats(report, 3)
    assert q3.facility == 0.5
    assert (q3.upper_facility, q3.lower_facility, q3.discrimination) == (1.0, 0.0, 1.0)
    assert q3.point_biserial == pytest.approx(2 / math.sqrt(5))
    assert picks(q3) == {
        "A": (pytest.approx(5 / 6), 1.0, 0.5),
        "B": (0.5, 1.0, 0.0),
        "C": (pytest.approx(1 / 3), 0.0, 1.0),
    }
    assert q3.flags == ()


def test_a_hard_question_is_flagged_too_hard_but_not_a_suspect_key_at_exactly_half(report):
    q4 = stats(report, 4)
    assert q4.facility == pytest.approx(1 / 6)
    assert (q4.upper_facility, q4.lower_facility, q4.discrimination) == (0.5, 0.0, 0.5)
    # M1 = 4/5, M0 = 12/25, p = 1/6: 0.32 · 3√5 · √5/6 = 0.8.
    assert q4.point_biserial == pytest.approx(0.8)
    assert picks(q4) == {
        "A": (pytest.approx(1 / 6), 0.5, 0.0),
        "B": (pytest.approx(1 / 3), 0.5, 0.0),
        "C": (0.5, 0.0, 1.0),
    }
    # B has half the upper group, but no more than the half that was right.
    assert codes(q4) == [TOO_HARD]
    assert "17% answered it right (flagged below 20%)" in q4.flags[0].message


def test_q5_discriminates_like_q3(report):
    q5 = stats(report, 5)
    assert (q5.facility, q5.discrimination) == (0.5, 1.0)
    assert q5.point_biserial == pytest.approx(2 / math.sqrt(5))
    assert picks(q5) == {
        "A": (0.5, 1.0, 0.0),
        "B": (pytest.approx(1 / 3), 0.0, 0.5),
        "C": (pytest.approx(1 / 6), 0.0, 0.5),
    }
    assert q5.flags == ()


def test_objective_averages_histogram_and_summary(report):
    assert [(o.objective, o.responses) for o in report.objectives] == [
        ("principles", 18),
        ("connect", 12),
    ]
    assert report.objectives[0].average == pytest.approx(7 / 18)
    assert report.objectives[1].average == 0.75
    counts = {b.label: b.count for b in report.histogram if b.count}
    assert counts == {f"40{DASH}50%": 3, f"60{DASH}70%": 2, f"80{DASH}90%": 1}
    assert len(report.histogram) == 10
    assert report.histogram[-1].label == f"90{DASH}100%"
    assert report.attempts == 6
    assert report.mean_percent == pytest.approx(160 / 3)
    assert report.median_percent == 50


def test_the_histogram_bins_exactly_and_puts_a_perfect_score_in_the_last_bin():
    bins = analytics.histogram([Fraction(29, 100), Fraction(3, 10), Fraction(1), Fraction(0)])
    assert [b.count for b in bins] == [1, 0, 1, 1, 0, 0, 0, 0, 0, 1]


def test_an_item_only_some_attempts_drew_is_measured_among_those():
    item = ItemSpec(1, (1, 2, 3), frozenset({1}))
    other = ItemSpec(2, (4, 5, 6), frozenset({4}))
    attempts = [
        AttemptData(1, (Response(1, frozenset({1}), True), Response(2, frozenset({4}), True))),
        AttemptData(2, (Response(2, frozenset({5}), False),)),
        AttemptData(3, (Response(1, frozenset({2}), False), Response(2, frozenset({5}), False))),
    ]
    report = analytics.analyse([item, other], attempts)
    first = report.items[0]
    assert first.responses == 2
    assert (first.upper_size, first.lower_size) == (1, 1)
    assert first.discrimination == 1.0
    # Too few responses to flag, however bad the numbers look.
    assert first.flags == ()


def test_no_attempts_gives_empty_numbers_not_errors():
    report = analytics.analyse([ItemSpec(1, (1, 2, 3), frozenset({1}))], [])
    only = report.items[0]
    assert (only.responses, only.facility, only.discrimination, only.point_biserial) == (
        0,
        None,
        None,
        None,
    )
    assert report.mean_percent is None
    assert sum(b.count for b in report.histogram) == 0


def test_option_labels_continue_past_z():
    assert [analytics.option_label(i) for i in (0, 2, 25, 26, 27)] == ["A", "C", "Z", "AA", "AB"]


def test_the_histogram_svg_is_labelled_and_escapes_its_text(report):
    chart = str(svg.histogram(report.histogram, chart_id="h", title="Scores <b>&", threshold=60))
    assert chart.startswith("<svg") and 'role="img"' in chart
    assert 'aria-labelledby="h-title h-desc"' in chart
    assert '<title id="h-title">Scores &lt;b&gt;&amp;</title>' in chart
    assert f"6 scores. 0{DASH}10%: 0;" in chart
    assert f"40{DASH}50%: 3" in chart and "The pass threshold is 60%." in chart
    assert "pass threshold 60%</text>" in chart
    # One bar per bin, the tallest bin full height (the plot is 188 units high).
    heights = [float(h) for h in re.findall(r'<rect [^>]*height="([\d.]+)"', chart)]
    assert len(heights) == 10
    assert max(heights) == 188
    assert "<script" not in chart


def test_the_objective_bars_show_each_share_as_text():
    chart = str(
        svg.bars(
            [svg.Row("principles", 7 / 18, "39%"), svg.Row("security", None, "no responses")],
            chart_id="o",
            title="Objectives",
        )
    )
    assert '<desc id="o-desc">principles: 39%; security: no responses</desc>' in chart
    assert ">39%</text>" in chart and ">no responses</text>" in chart
