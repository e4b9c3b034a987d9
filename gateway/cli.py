"""The ``edge-gateway`` command line: the only place that parses arguments and configures logging."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import ClassVar

PROGRAM = "edge-gateway"
GLOBAL_OPTIONS_WITH_VALUES = frozenset({"--log-level", "--log-format"})


def command_of(argv: Sequence[str]) -> str | None:
    """The command ``argv`` (the arguments after the program) names, read the way the parser will
    read it, but before the imports the parser needs: the first word that is not a global option
    or an option's value."""
    words = iter(argv)
    for word in words:
        if word in GLOBAL_OPTIONS_WITH_VALUES:
            next(words, None)
        elif not word.startswith("-"):
            return word
    return None


def _run_as_program() -> bool:
    """Whether this process is ``edge-gateway`` itself (the console script, ``python -m gateway``),
    not a program that imports the module."""
    main_module = sys.modules.get("__main__")
    spec = getattr(main_module, "__spec__", None)
    return (spec is not None and spec.name == "gateway.__main__") or Path(sys.argv[0]).name == PROGRAM


def hold_reload_signal() -> None:
    """For ``serve``: block SIGHUP from here until its handler is installed. The imports below take a
    second or two, and SIGHUP's default action ends the process: a reload asked for while a service
    manager starts the gateway (``systemctl reload`` right after ``start``) would kill it. Blocked, it
    stays pending and the serve command, once its handler is in place, unblocks it: a reload then.
    Other commands keep SIGHUP as they find it (``audit serve`` installs its own handler)."""
    if _run_as_program() and command_of(sys.argv[1:]) == "serve":
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGHUP})


def fill_standard_descriptors() -> None:
    """Open ``/dev/null`` as any of descriptors 0-2 the process was started without (a service
    manager or a shell's ``<&- >&-``). Otherwise the next files opened take those numbers: uvloop's
    own pipes landed there and ``serve`` aborted at exit (libuv asserts it never closes them, a core
    dump), and what FFmpeg writes to stderr would go into whatever file held descriptor 2."""
    for descriptor in (0, 1, 2):
        try:
            os.fstat(descriptor)
        except OSError:
            null = os.open(os.devnull, os.O_RDWR)
            if null != descriptor:
                os.dup2(null, descriptor)
                os.close(null)
    # Python left these None when it found the descriptor closed; writes to them now go nowhere.
    if sys.stdout is None:
        sys.stdout = open(1, "w", encoding="utf-8", closefd=False)  # noqa: SIM115 - lives as long as the process
    if sys.stderr is None:
        sys.stderr = open(2, "w", encoding="utf-8", closefd=False)  # noqa: SIM115 - lives as long as the process


if _run_as_program():
    fill_standard_descriptors()
hold_reload_signal()

# Set before the commands import ONNX Runtime, which reads it once, as it loads. Its official builds
# (1.29 on) send usage events to Microsoft over HTTPS and keep a device id under ~/.cache: a camera
# box must not call out unasked, and where HOME is not writable (a service user, ProtectHome=) every
# session printed "Failed to persist telemetry device ID" on stderr. Set to 0 in the environment to
# let it send them.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

EXIT_INTERRUPTED = 130
"""128 + SIGINT, as a shell reports a command that Ctrl-C ended."""

# Below hold_reload_signal on purpose: these imports are the second or two it covers. Ctrl-C during
# them ends the command as it does later (``main``), not in a traceback of whatever was importing.
try:
    from prometheus_client import disable_created_metrics

    from gateway.commands import audit, build_engine, check_config, enroll, models, serve
    from gateway.commands.redaction import redact
except KeyboardInterrupt:
    if not _run_as_program():
        raise
    print(f"{PROGRAM}: interrupted", file=sys.stderr, flush=True)
    # Not sys.exit: an interrupted import can leave the interpreter set to end by SIGINT itself at
    # exit (status -2 instead of 130: 2 runs in 17 here); nothing is open yet to clean up.
    os._exit(EXIT_INTERRUPTED)

__all__ = ["COMMANDS", "build_parser", "command_of", "configure_logging", "main", "redact"]

COMMANDS: tuple[ModuleType, ...] = (serve, check_config, audit, models, enroll, build_engine)


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the record's ``extra`` context (camera, model) kept."""

    _STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({key: value for key, value in vars(record).items() if key not in self._STANDARD})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return redact(json.dumps(entry, default=str))


def one_line(text: str, keep: str = "") -> str:
    """``text`` with each character ``str.isprintable`` refuses (but those in ``keep``) written as a
    Python escape (``\\n``, ``\\x1b``, ``\\u202e``). Unlike ``gateway.printable`` it leaves
    backslashes alone, so text a call site already made printable reads the same."""
    if text.isprintable():
        return text
    return "".join(
        character if character.isprintable() or character in keep else repr(character)[1:-1]
        for character in text
    )


class ContextFormatter(logging.Formatter):
    """Text lines with the record's camera/model context appended as ``key=value``.

    What a message says of the world (a model directory's name, a camera's id, a request's path) is
    data from outside: a newline in it would start a line that reads as the gateway's own, an ANSI
    escape would rewrite the operator's terminal. So a message is made one printable line here, the
    one place every record passes, and so is each context value. A message whose own format spans
    lines keeps its line breaks; a traceback keeps its lines."""

    CONTEXT = ("camera", "model")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        """Local time with its UTC offset: without it, the hour a clock falls back (DST's end) reads
        twice, and lines from boxes in other zones cannot be put in order."""
        moment = self.converter(record.created)
        clock = time.strftime(datefmt or "%Y-%m-%d %H:%M:%S", moment)
        return f"{clock},{int(record.msecs):03d}{time.strftime('%z', moment)}"

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(_printable(record))
        context = " ".join(
            f"{key}={one_line(str(getattr(record, key)))}" for key in self.CONTEXT if hasattr(record, key)
        )
        return redact(f"{line} [{context}]" if context else line)


def _printable(record: logging.LogRecord) -> logging.LogRecord:
    """``record``, or a copy whose message is ``one_line``: the record itself goes on to the other
    handlers as it is."""
    message = record.getMessage()
    printable = one_line(message, keep="\n" if "\n" in str(record.msg) else "")
    if printable == message:
        return record
    copy = logging.makeLogRecord(vars(record))
    copy.msg, copy.args = printable, None
    return copy


def configure_logging(level: str, log_format: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    elif os.environ.get("JOURNAL_STREAM"):
        # journald adds its own timestamps; the <N> prefix carries the syslog priority.
        handler.setFormatter(_JournalFormatter())
    else:
        handler.setFormatter(ContextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)


class _JournalFormatter(ContextFormatter):
    PRIORITIES: ClassVar[dict[str, int]] = {"DEBUG": 7, "INFO": 6, "WARNING": 4, "ERROR": 3, "CRITICAL": 2}

    def __init__(self) -> None:
        super().__init__("%(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        return f"<{self.PRIORITIES.get(record.levelname, 6)}>{super().format(record)}"


ONE_SHOT_LOG_LEVEL = "warning"
"""The default for commands that run once and exit: their output is the answer, and an INFO line
there is noise. The services (``serve``, ``audit serve``) set ``info`` with ``set_defaults``."""


DESCRIPTION = (
    "Edge inference gateway: cameras and the HTTP inference API through one model pool, signed alerts "
    "to MQTT, and the cloud audit service. 'edge-gateway COMMAND --help' describes each command."
)
"""What ``--help`` says first: for the operator, where the module docstring is for the developer."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="edge-gateway", description=DESCRIPTION)
    _add_logging_options(parser, command=False)
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.register(subparsers)
    # Accepted after the command too (``edge-gateway serve --log-level debug``), as most CLIs take
    # them. SUPPRESS as the default there: a command's parser that was not given one must leave the
    # value given before the command (or the program's default) as it is.
    for command_parser in _command_parsers(parser):
        _add_logging_options(command_parser, command=True)
    return parser


def _add_logging_options(parser: argparse.ArgumentParser, *, command: bool) -> None:
    parser.add_argument(
        "--log-level",
        choices=["debug", "info", "warning", "error"],
        default=argparse.SUPPRESS if command else None,
        help=f"default: info for serve and audit serve, {ONE_SHOT_LOG_LEVEL} for the one-shot commands",
    )
    parser.add_argument(
        "--log-format",
        choices=["text", "json"],
        default=argparse.SUPPRESS if command else "text",
        help="default: text",
    )


def _command_parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """Every command's and action's parser below ``parser`` (``serve``, ``audit``, ``audit serve``),
    each once (an alias names the same parser)."""
    found: list[argparse.ArgumentParser] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                if all(child is not known for known in found):
                    found.extend((child, *_command_parsers(child)))
    return found


EXIT_BROKEN_PIPE = 141
"""128 + SIGPIPE, as a shell reports a command whose reader went away (``| head -1``)."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    arguments = parser.parse_args(argv)
    level = arguments.log_level or getattr(arguments, "default_log_level", ONE_SHOT_LOG_LEVEL)
    configure_logging(level, arguments.log_format)
    # A counter or histogram's _created sample is one more series per label set (one per camera, per
    # camera and alert kind, ...) that a Prometheus scrape of the text format stores as a gauge of its
    # own and never uses; process-wide, so the gateway's and the audit service's /metrics both drop it.
    disable_created_metrics()  # type: ignore[no-untyped-call]
    try:
        code: int = arguments.handler(arguments)
        sys.stdout.flush()  # here, where a reader that went away is caught, not at exit
    except KeyboardInterrupt:
        # Said, so a one-shot command ended by Ctrl-C (enroll takes minutes) is not mistaken for one
        # that finished or failed on its own.
        print(f"{parser.prog} {arguments.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader of the output went away (``edge-gateway models list | head -1``): it has what it
        # wanted, so stop as other commands do, without a traceback, and without a second one from
        # the interpreter flushing the rest of the output at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    return code
