"""The shares of ``--shard K/N`` (``tests/shard.py``): between them every test runs exactly once."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.shard import in_shard, parse_shard


@pytest.mark.parametrize(("text", "expected"), [("1/2", (1, 2)), ("2/2", (2, 2)), (" 3/5 ", (3, 5))])
def test_a_shard_is_read_as_its_place_and_count(text: str, expected: tuple[int, int]) -> None:
    assert parse_shard(text) == expected


@pytest.mark.parametrize("text", ["", "2", "0/2", "3/2", "1/0", "a/b", "1/2/3", "-1/2"])
def test_a_shard_that_names_no_share_is_refused_with_what_was_given(text: str) -> None:
    with pytest.raises(ValueError, match="--shard"):
        parse_shard(text)


@pytest.mark.parametrize("count", [1, 2, 3, 4])
def test_every_test_is_in_exactly_one_share(count: int) -> None:
    for position in range(50):
        shares = [index for index in range(1, count + 1) if in_shard(position, index, count)]
        assert len(shares) == 1


class _Outcomes:
    def __init__(self) -> None:
        self.passed: list[str] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call" and report.passed:
            self.passed.append(report.nodeid)


def _run(directory: Path, *arguments: str) -> tuple[int, list[str]]:
    outcomes = _Outcomes()
    status = pytest.main(
        [str(directory), "-q", "-p", "no:cacheprovider", "-p", "tests.shard", *arguments],
        plugins=[outcomes],
    )
    return int(status), outcomes.passed


def test_two_shares_of_a_real_run_run_every_selected_test_once(tmp_path: Path) -> None:
    # Given a suite of seven tests in two files, one of them deselected by -k
    (tmp_path / "test_first.py").write_text(
        "".join(f"def test_first_{number}():\n    pass\n" for number in range(4))
    )
    (tmp_path / "test_second.py").write_text(
        "".join(f"def test_second_{number}():\n    pass\n" for number in range(3))
    )
    selection = ("-k", "not test_second_2")

    # When it runs as share 1 of 2 and share 2 of 2
    first_status, first = _run(tmp_path, *selection, "--shard", "1/2")
    second_status, second = _run(tmp_path, *selection, "--shard", "2/2")

    # Then each share ran, about half each, and together every selected test once
    assert (first_status, second_status) == (0, 0)
    assert (len(first), len(second)) == (3, 3)
    assert not set(first) & set(second)
    assert {nodeid.rsplit("::", 1)[1] for nodeid in first + second} == {
        *(f"test_first_{number}" for number in range(4)),
        "test_second_0",
        "test_second_1",
    }


def test_a_bad_shard_stops_the_run_before_any_test(tmp_path: Path) -> None:
    (tmp_path / "test_one.py").write_text("def test_one():\n    pass\n")

    status, passed = _run(tmp_path, "--shard", "3/2")

    assert status == pytest.ExitCode.USAGE_ERROR
    assert passed == []
