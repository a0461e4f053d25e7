"""Batch planning and the halt rule: pure functions, tested exhaustively."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fleet.batches import (
    BatchSize,
    BatchSpec,
    FailureLimit,
    halt_reason,
    parse_batch_spec,
    parse_max_failures,
    plan_batches,
    should_halt,
)
from fleet.errors import ExitCode, InputError


def sizes(hosts: int, spec: str) -> list[int]:
    return [len(batch) for batch in plan_batches(list(range(hosts)), parse_batch_spec(spec))]


# --------------------------------------------------------------------------- parse_batch_spec


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("5", (BatchSize(5),)),
        ("25%", (BatchSize(25, percent=True),)),
        ("1,5,25%", (BatchSize(1), BatchSize(5), BatchSize(25, percent=True))),
        (" 1 , 10% ", (BatchSize(1), BatchSize(10, percent=True))),
        ("100%", (BatchSize(100, percent=True),)),
        ("1%", (BatchSize(1, percent=True),)),
    ],
)
def test_parse_batch_spec_accepts_counts_percentages_and_ramps(text, expected):
    assert parse_batch_spec(text).sizes == expected


def test_batch_spec_prints_back_as_typed():
    assert str(parse_batch_spec("1, 5,25%")) == "1,5,25%"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("150%", "--batch-size 150%: a percentage must be between 1% and 100%"),
        ("0%", "--batch-size 0%: a percentage must be between 1% and 100%"),
        ("-5%", "--batch-size -5%: a percentage must be between 1% and 100%"),
        ("0", "--batch-size 0: a batch needs at least 1 host; write a count (5), a percentage"),
        ("-1", "--batch-size -1: a batch needs at least 1 host"),
        ("abc", "--batch-size abc: 'abc' is not a whole number; write a count (5)"),
        ("1.5", "--batch-size 1.5: '1.5' is not a whole number"),
        ("%", "--batch-size %: '%' is not a whole number"),
        ("25%%", "--batch-size 25%%: '25%%' is not a whole number"),
        ("1,,5", "--batch-size 1,,5: empty item; write a count (5)"),
        ("1,5,", "--batch-size 1,5,: empty item"),
        ("", "--batch-size '': empty item"),
        ("1,0,5", "--batch-size 1,0,5: a batch needs at least 1 host"),
        ("\u0663", "is not a whole number"),  # an Arabic-Indic digit three: isdigit() but not ASCII
    ],
)
def test_parse_batch_spec_rejects_bad_values_with_one_line(text, message):
    with pytest.raises(InputError) as caught:
        parse_batch_spec(text)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)
    assert caught.value.exit_code is ExitCode.BAD_INPUT


def test_batch_spec_needs_a_size():
    with pytest.raises(ValueError):
        BatchSpec(())


# --------------------------------------------------------------------------- plan_batches


@pytest.mark.parametrize(
    ("hosts", "spec", "expected"),
    [
        (10, "3", [3, 3, 3, 1]),
        (10, "10", [10]),
        (10, "50", [10]),
        (1, "5", [1]),
        (10, "25%", [2, 2, 2, 2, 2]),  # 2.5 rounds down
        (20, "1%", [1] * 20),  # 0.2 rounds down to 0, then up to the minimum of 1
        (3, "10%", [1, 1, 1]),
        (100, "29%", [29, 29, 29, 13]),  # exact: Ansible's float maths gives 28
        (100, "100%", [100]),
        (100, "1,5,25%", [1, 5, 25, 25, 25, 19]),  # the last item repeats
        (4, "1,5,25%", [1, 3]),  # the ramp stops when hosts run out
        (10, "1,10%", [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]),
        (50, "2,50%", [2, 25, 23]),  # 50% of all 50 hosts, not of the 48 left
        (7, "1,2,3", [1, 2, 3, 1]),
        (0, "5", []),
        (0, "1,25%", []),
    ],
)
def test_plan_batches_sizes(hosts, spec, expected):
    assert sizes(hosts, spec) == expected


def test_plan_batches_preserves_order_and_objects():
    hosts = [object() for _ in range(7)]
    batches = plan_batches(hosts, parse_batch_spec("2"))
    assert [h for batch in batches for h in batch] == hosts
    assert all(a is b for a, b in zip([h for b in batches for h in b], hosts, strict=True))


def test_plan_batches_accepts_tuples_and_returns_lists():
    batches = plan_batches(("a", "b", "c"), parse_batch_spec("2"))
    assert batches == [["a", "b"], ["c"]]


spec_items = st.one_of(
    st.integers(1, 40).map(lambda n: str(n)),
    st.integers(1, 100).map(lambda n: f"{n}%"),
)


@given(hosts=st.integers(0, 300), items=st.lists(spec_items, min_size=1, max_size=4))
def test_plan_batches_properties(hosts, items):
    spec = parse_batch_spec(",".join(items))
    batches = plan_batches(list(range(hosts)), spec)
    assert [h for batch in batches for h in batch] == list(range(hosts))
    assert all(batches), "no batch is ever empty"
    for index, batch in enumerate(batches):
        size = spec.sizes[min(index, len(spec.sizes) - 1)]
        wanted = max(1, size.value * hosts // 100) if size.percent else size.value
        if index < len(batches) - 1:
            assert len(batch) == wanted
        else:
            assert 1 <= len(batch) <= wanted


# --------------------------------------------------------------------------- parse_max_failures


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", FailureLimit(0)),
        ("  ", FailureLimit(0)),
        ("0", FailureLimit(0)),
        ("3", FailureLimit(3)),
        ("10%", FailureLimit(10, percent=True)),
        (" 0% ", FailureLimit(0, percent=True)),
        ("100%", FailureLimit(100, percent=True)),
    ],
)
def test_parse_max_failures(text, expected):
    assert parse_max_failures(text) == expected


def test_default_failure_limit_is_zero_hosts():
    assert FailureLimit() == parse_max_failures("0")
    assert str(FailureLimit()) == "0"
    assert str(parse_max_failures("10%")) == "10%"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("-1", "--max-failures -1: the number of hosts must not be negative"),
        ("150%", "--max-failures 150%: a percentage must be between 0% and 100%"),
        ("-5%", "--max-failures -5%: a percentage must be between 0% and 100%"),
        ("abc", "--max-failures abc: 'abc' is not a whole number; write a count of hosts"),
        ("1.5", "--max-failures 1.5: '1.5' is not a whole number"),
        ("3,4", "--max-failures 3,4: '3,4' is not a whole number"),
    ],
)
def test_parse_max_failures_rejects_bad_values(text, message):
    with pytest.raises(InputError) as caught:
        parse_max_failures(text)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


# --------------------------------------------------------------------------- should_halt


def oracle(failed: int, unreachable: int, total: int, limit: FailureLimit) -> bool:
    """The rule restated with exact fractions: bad hosts exceed the limit."""
    bad = failed + unreachable
    if limit.percent:
        return total > 0 and Fraction(bad, total) * 100 > limit.value
    return bad > limit.value


def test_should_halt_exhaustively_matches_the_rule():
    limits = [FailureLimit(n) for n in range(6)] + [
        FailureLimit(p, percent=True) for p in range(101)
    ]
    checked = 0
    for total in range(31):
        for bad in range(total + 1):
            for failed in range(bad + 1):
                for limit in limits:
                    unreachable = bad - failed
                    expected = oracle(failed, unreachable, total, limit)
                    assert should_halt(failed, unreachable, total, limit) is expected, (
                        failed,
                        unreachable,
                        total,
                        limit,
                    )
                    checked += 1
    assert checked > 500_000


@pytest.mark.parametrize(
    ("failed", "unreachable", "total", "limit", "halt"),
    [
        (0, 0, 0, "0", False),  # nothing attempted
        (0, 0, 10, "0", False),
        (1, 0, 1, "0", True),  # the default stops at the first failure
        (0, 1, 1, "0", True),  # unreachable counts the same as failed
        (3, 0, 10, "3", False),  # "3" allows three bad hosts ...
        (2, 2, 10, "3", True),  # ... the fourth halts
        (1, 0, 10, "10%", False),  # exactly 10% does not exceed 10%
        (1, 1, 10, "10%", True),
        (1, 0, 1, "50%", True),  # a failed canary is 100% of hosts attempted so far
        (1, 0, 2, "50%", False),
        (0, 1, 3, "33%", True),  # 33.3% > 33%
        (1, 0, 3, "34%", False),
        (1, 0, 1, "0%", True),
        (0, 0, 5, "0%", False),
        (1000, 0, 1000, "100%", False),  # 100% never halts
        (1, 0, 1000, "0%", True),
    ],
)
def test_should_halt_named_cases(failed, unreachable, total, limit, halt):
    assert should_halt(failed, unreachable, total, parse_max_failures(limit)) is halt


@pytest.mark.parametrize(
    ("failed", "unreachable", "total"), [(-1, 0, 3), (0, -1, 3), (0, 0, -1), (2, 2, 3)]
)
def test_should_halt_rejects_impossible_counts(failed, unreachable, total):
    with pytest.raises(ValueError):
        should_halt(failed, unreachable, total, FailureLimit())


def test_should_halt_documents_its_denominator():
    doc = should_halt.__doc__ or ""
    assert "exceeds" in doc
    assert "attempted so far" in doc


def test_halt_reason_names_counts_and_limit():
    reason = halt_reason(2, 1, 10, parse_max_failures("20%"))
    assert reason == (
        "3 of 10 hosts attempted failed or were unreachable "
        "(failed 2, unreachable 1), more than --max-failures 20%"
    )
