"""One log record is one line: text from outside (a model directory's name, a camera id) cannot start
a line that reads as the gateway's own, nor send an escape sequence to the operator's terminal."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator

import pytest

from gateway.cli import configure_logging
from gateway.printable import printable

FORGED = "evil\n2026-01-01 00:00:00,000 INFO gateway.api.app: forged\x1b[31m"
ESCAPED = "evil\\n2026-01-01 00:00:00,000 INFO gateway.api.app: forged\\x1b[31m"


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture(params=["plain", "journal"])
def text_logging(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Text lines, as on a terminal or under journald; configure_logging is called by the test itself,
    after capsys has replaced sys.stderr."""
    if request.param == "journal":
        monkeypatch.setenv("JOURNAL_STREAM", "8:12345")
    else:
        monkeypatch.delenv("JOURNAL_STREAM", raising=False)


class Reference:
    """An argument that is not text, as a model's reference is: it becomes text only as it is logged."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __str__(self) -> str:
        return f"{self.name}:1"


def _lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    """What was logged since the last call, as lines."""
    return capsys.readouterr().err.splitlines()


@pytest.mark.usefixtures("text_logging")
@pytest.mark.parametrize("argument", [FORGED, Reference(FORGED)], ids=["text", "object"])
def test_an_argument_cannot_start_a_line_of_its_own(
    capsys: pytest.CaptureFixture[str], argument: object
) -> None:
    configure_logging("info", "text")
    logging.getLogger("gateway.inference.repository").info("model %s ready", argument)

    lines = _lines(capsys)

    assert len(lines) == 1, lines
    assert f"gateway.inference.repository: model {ESCAPED}" in lines[0]
    assert "\x1b" not in lines[0]


@pytest.mark.usefixtures("text_logging")
def test_a_context_value_cannot_start_a_line_of_its_own(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("info", "text")
    logging.getLogger("gateway.inference.loaded").info("closed", extra={"model": FORGED, "camera": "gate\r"})

    lines = _lines(capsys)

    assert len(lines) == 1, lines
    assert lines[0].endswith(f"gateway.inference.loaded: closed [camera=gate\\r model={ESCAPED}]")


@pytest.mark.usefixtures("text_logging")
def test_text_a_call_site_made_printable_reads_the_same(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("info", "text")
    logging.getLogger("gateway.audit.store").warning("rejected on %s", printable(FORGED))

    assert _lines(capsys)[0].endswith(f"rejected on {printable(FORGED)}")


@pytest.mark.usefixtures("text_logging")
def test_a_message_written_over_lines_keeps_them(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("info", "text")
    # The gateway's own format decides the line breaks; an argument still cannot add an escape.
    logging.getLogger("gateway.pipeline.config_file").error(
        "reload refused, the running config stays:\n%s", "gateway.yaml:3: a\ngateway.yaml:4: b\x1b[2J"
    )

    lines = _lines(capsys)

    assert lines[1:] == ["gateway.yaml:3: a", "gateway.yaml:4: b\\x1b[2J"]


@pytest.mark.usefixtures("text_logging")
def test_a_traceback_keeps_its_lines(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("info", "text")
    try:
        raise ValueError("broken")
    except ValueError:
        logging.getLogger("gateway").exception("model %s failed", "first")

    lines = _lines(capsys)

    assert lines[0].endswith("gateway: model first failed")
    assert lines[1] == "Traceback (most recent call last):"
    assert lines[-1] == "ValueError: broken"


class Collector(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_the_record_reaches_other_handlers_as_it_was(capsys: pytest.CaptureFixture[str]) -> None:
    # Given a second handler next to the command line's, as a test's caplog is
    configure_logging("info", "text")
    collector = Collector()
    logging.getLogger().addHandler(collector)

    logging.getLogger("gateway").info("model %s", FORGED)

    assert [record.getMessage() for record in collector.records] == [f"model {FORGED}"]
    assert len(_lines(capsys)) == 1


def test_json_lines_carry_the_text_as_it_was(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("info", "json")

    logging.getLogger("gateway").info("model %s", FORGED, extra={"model": FORGED})

    lines = _lines(capsys)
    assert len(lines) == 1
    entry = json.loads(lines[0])
    assert entry["message"] == f"model {FORGED}"
    assert entry["model"] == FORGED


def test_text_lines_carry_their_utc_offset(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # 02:30 on 2026-10-25 happened twice in Berlin: at +0200, then at +0100 after the clock fell back.
    monkeypatch.delenv("JOURNAL_STREAM", raising=False)
    # Berlin's rule as a POSIX TZ string: no tzdata needed.
    monkeypatch.setenv("TZ", "CET-1CEST,M3.5.0,M10.5.0/3")
    time.tzset()
    try:
        configure_logging("info", "text")
        logger = logging.getLogger("gateway.decider")
        for created in (1_792_888_200.0, 1_792_891_800.0):
            record = logger.makeRecord(logger.name, logging.INFO, __file__, 1, "tick", (), None)
            record.created, record.msecs = created, 0.0
            logger.handle(record)
    finally:
        monkeypatch.undo()  # TZ as it was, before the zone is read again
        time.tzset()
    assert [line.split(" INFO ")[0] for line in _lines(capsys)] == [
        "2026-10-25 02:30:00,000+0200",
        "2026-10-25 02:30:00,000+0100",
    ]
