"""Item analysis of a test from its counting attempts: pure functions, no database.

An item is one question version (its options are fixed), and a response is what
one attempt answered for it. Attempts draw different questions, so every item is
measured among the attempts that drew it: its upper and lower groups are the top
and bottom 27% of those attempts ranked by their share of questions answered
correctly (Kelley's classic split), and its point-biserial correlates being right
on the item with that share. mentors/data.py turns rows into these types.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction

# The share of ranked attempts in each of the upper and lower groups.
GROUP_FRACTION = 0.27
# A facility above this means nearly everyone is right: the item tells nobody apart.
TOO_EASY_ABOVE = 0.9
# A facility below this means nearly everyone is wrong: a bad key or an unfair item.
TOO_HARD_BELOW = 0.2
# A wrong option picked by at least this share of the upper group, and by more of it
# than answer the item right, suggests the key (not the strong students) is wrong.
SUSPECT_KEY_SHARE = 0.5
# Below this many responses an item gets its numbers but no flags: too noisy.
MIN_RESPONSES_FOR_FLAGS = 5
# Score histogram bins, in percentage points; the last bin includes 100%.
HISTOGRAM_BIN_WIDTH = 10

SUSPECT_KEY = "suspect-key"
UNUSED_DISTRACTOR = "unused-distractor"
NEGATIVE_DISCRIMINATION = "negative-discrimination"
TOO_EASY = "too-easy"
TOO_HARD = "too-hard"


@dataclass(frozen=True)
class ItemSpec:
    """A question version: its option ids in authored order and which are correct."""

    id: int
    options: tuple[int, ...]
    correct: frozenset[int]
    objective: str = ""
    objective_position: int = 0


@dataclass(frozen=True)
class Response:
    item: int
    chosen: frozenset[int]
    correct: bool


@dataclass(frozen=True)
class AttemptData:
    """A counting attempt: the responses to every question it drew."""

    id: int
    responses: tuple[Response, ...]

    @property
    def score(self) -> Fraction:
        """The share of drawn questions answered correctly, exactly."""
        if not self.responses:
            return Fraction(0)
        return Fraction(sum(r.correct for r in self.responses), len(self.responses))


@dataclass(frozen=True)
class Flag:
    code: str
    message: str


@dataclass(frozen=True)
class OptionStats:
    option: int
    label: str  # A, B, C… by authored position
    correct: bool
    picked: float  # share of all responses that chose it
    upper: float | None  # share of the upper group that chose it
    lower: float | None


@dataclass(frozen=True)
class ItemStats:
    item: int
    responses: int
    facility: float | None
    upper_size: int
    lower_size: int
    upper_facility: float | None
    lower_facility: float | None
    discrimination: float | None  # upper facility minus lower facility
    point_biserial: float | None
    options: tuple[OptionStats, ...]
    flags: tuple[Flag, ...]


@dataclass(frozen=True)
class ObjectiveStats:
    objective: str
    responses: int
    average: float | None  # share of its responses that were correct


@dataclass(frozen=True)
class Bin:
    low: int
    high: int
    count: int

    @property
    def label(self) -> str:
        return f"{self.low}\N{EN DASH}{self.high}%"


@dataclass(frozen=True)
class Analysis:
    attempts: int
    mean_percent: float | None
    median_percent: float | None
    items: tuple[ItemStats, ...]
    objectives: tuple[ObjectiveStats, ...]
    histogram: tuple[Bin, ...]


def option_label(position: int) -> str:
    """A, B, … Z, then AA, AB…: how options are named in flags and tables."""
    label = ""
    position += 1
    while position:
        position, rest = divmod(position - 1, 26)
        label = chr(ord("A") + rest) + label
    return label


def group_size(n: int) -> int:
    """How many attempts go in each of the upper and lower groups out of `n`."""
    if n < 2:
        return 0
    # Rounded half up, and at least one, so two attempts already make two groups.
    return max(1, math.floor(n * GROUP_FRACTION + 0.5))


def upper_lower(attempts: Sequence[AttemptData]) -> tuple[list[AttemptData], list[AttemptData]]:
    """The top and bottom groups by score; ties are broken by attempt id, lower first."""
    ranked = sorted(attempts, key=lambda a: (-a.score, a.id))
    size = group_size(len(ranked))
    if not size:
        return [], []
    return ranked[:size], ranked[-size:]


def share(hits: int, total: int) -> float | None:
    return hits / total if total else None


def point_biserial(pairs: Sequence[tuple[bool, float]]) -> float | None:
    """Correlation of (right on the item, total score); None when either side is constant."""
    n = len(pairs)
    if n < 2:
        return None
    scores = [s for _, s in pairs]
    right = [s for c, s in pairs if c]
    wrong = [s for c, s in pairs if not c]
    sd = statistics.pstdev(scores)
    if not right or not wrong or sd == 0:
        return None
    p = len(right) / n
    return (statistics.fmean(right) - statistics.fmean(wrong)) / sd * math.sqrt(p * (1 - p))


def _percent(x: float) -> str:
    return f"{round(100 * x)}%"


def _flags(spec: ItemStats, upper: list[Response]) -> tuple[Flag, ...]:
    responses = spec.responses
    if responses < MIN_RESPONSES_FOR_FLAGS:
        return ()
    flags = []
    if spec.upper_facility is not None:
        for option in spec.options:
            rate = option.upper
            if (
                not option.correct
                and rate is not None
                and rate >= SUSPECT_KEY_SHARE
                and rate > spec.upper_facility
            ):
                picked = sum(option.option in r.chosen for r in upper)
                flags.append(
                    Flag(
                        SUSPECT_KEY,
                        f"Suspect key: {picked} of {len(upper)} students in the upper group "
                        f"chose {option.label}, which is marked wrong; only "
                        f"{_percent(spec.upper_facility)} of them were marked right.",
                    )
                )
    for option in spec.options:
        if not option.correct and option.picked == 0:
            flags.append(
                Flag(
                    UNUSED_DISTRACTOR,
                    f"None of the {responses} responses chose {option.label}: "
                    "the distractor does no work.",
                )
            )
    negative = [
        f"{name} {value:+.2f}"
        for name, value in (("D", spec.discrimination), ("r_pb", spec.point_biserial))
        if value is not None and value < 0
    ]
    if negative:
        flags.append(
            Flag(
                NEGATIVE_DISCRIMINATION,
                f"Negative discrimination ({', '.join(negative)}): weaker students do better "
                "on it than stronger ones.",
            )
        )
    if spec.facility is not None and spec.facility > TOO_EASY_ABOVE:
        flags.append(
            Flag(
                TOO_EASY,
                f"Far too easy: {_percent(spec.facility)} answered it right "
                f"(flagged above {_percent(TOO_EASY_ABOVE)}).",
            )
        )
    if spec.facility is not None and spec.facility < TOO_HARD_BELOW:
        flags.append(
            Flag(
                TOO_HARD,
                f"Far too hard: {_percent(spec.facility)} answered it right "
                f"(flagged below {_percent(TOO_HARD_BELOW)}).",
            )
        )
    return tuple(flags)


def item_stats(item: ItemSpec, seen: Sequence[tuple[AttemptData, Response]]) -> ItemStats:
    """Facility, discrimination, option pick rates and flags of one item.

    `seen` pairs each attempt that drew the item with its response to it.
    """
    upper_attempts, lower_attempts = upper_lower([a for a, _ in seen])
    by_attempt = {a.id: r for a, r in seen}
    upper = [by_attempt[a.id] for a in upper_attempts]
    lower = [by_attempt[a.id] for a in lower_attempts]
    responses = [r for _, r in seen]

    def rate(group: list[Response], option: int) -> float | None:
        return share(sum(option in r.chosen for r in group), len(group))

    options = tuple(
        OptionStats(
            option=option,
            label=option_label(position),
            correct=option in item.correct,
            picked=rate(responses, option) or 0.0,
            upper=rate(upper, option),
            lower=rate(lower, option),
        )
        for position, option in enumerate(item.options)
    )
    upper_facility = share(sum(r.correct for r in upper), len(upper))
    lower_facility = share(sum(r.correct for r in lower), len(lower))
    discrimination = (
        upper_facility - lower_facility
        if upper_facility is not None and lower_facility is not None
        else None
    )
    stats = ItemStats(
        item=item.id,
        responses=len(responses),
        facility=share(sum(r.correct for r in responses), len(responses)),
        upper_size=len(upper),
        lower_size=len(lower),
        upper_facility=upper_facility,
        lower_facility=lower_facility,
        discrimination=discrimination,
        point_biserial=point_biserial([(r.correct, float(a.score)) for a, r in seen]),
        options=options,
        flags=(),
    )
    return replace(stats, flags=_flags(stats, upper))


def objective_averages(
    items: Iterable[ItemSpec], attempts: Sequence[AttemptData]
) -> tuple[ObjectiveStats, ...]:
    """The share of correct responses to the questions of each objective, in objective order."""
    objective_of = {i.id: (i.objective_position, i.objective) for i in items}
    totals: dict[tuple[int, str], list[int]] = {key: [0, 0] for key in objective_of.values()}
    for attempt in attempts:
        for response in attempt.responses:
            key = objective_of.get(response.item)
            if key is not None:
                totals[key][0] += response.correct
                totals[key][1] += 1
    return tuple(
        ObjectiveStats(objective=name, responses=total, average=share(right, total))
        for (_, name), (right, total) in sorted(totals.items())
    )


def histogram(scores: Iterable[Fraction]) -> tuple[Bin, ...]:
    """Counts of percent scores in HISTOGRAM_BIN_WIDTH-point bins from 0 to 100."""
    width = HISTOGRAM_BIN_WIDTH
    count = math.ceil(100 / width)
    bins = [0] * count
    for score in scores:
        # Exact: 29/100 must land in the 20s, which 0.29 * 100 in floats would not.
        bins[min(math.floor(score * 100 / width), count - 1)] += 1
    return tuple(Bin(i * width, min((i + 1) * width, 100), n) for i, n in enumerate(bins))


def analyse(items: Sequence[ItemSpec], attempts: Sequence[AttemptData]) -> Analysis:
    """The whole report of a test: a summary, every item, objectives and the histogram."""
    percents = [float(a.score * 100) for a in attempts]
    seen: dict[int, list[tuple[AttemptData, Response]]] = {item.id: [] for item in items}
    for attempt in attempts:
        for response in attempt.responses:
            if response.item in seen:
                seen[response.item].append((attempt, response))
    return Analysis(
        attempts=len(attempts),
        mean_percent=statistics.fmean(percents) if percents else None,
        median_percent=statistics.median(percents) if percents else None,
        items=tuple(item_stats(item, seen[item.id]) for item in items),
        objectives=objective_averages(items, attempts),
        histogram=histogram(a.score for a in attempts),
    )


def worst_first(items: Sequence[ItemStats]) -> list[ItemStats]:
    """Items in the order a mentor should look at them: flagged, then least discriminating.

    More flags first; then the lowest discrimination (a negative D means the weaker
    students did better); items nobody answered go last, in their authored order.
    """

    def badness(stats: ItemStats) -> tuple[bool, int, float, float]:
        d = stats.discrimination if stats.discrimination is not None else 2.0
        rpb = stats.point_biserial if stats.point_biserial is not None else 2.0
        return (stats.responses == 0, -len(stats.flags), d, rpb)

    return sorted(items, key=badness)
