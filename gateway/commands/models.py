"""``edge-gateway models list|validate``: the model repository as the gateway sees it.

Both load every version exactly as ``serve`` would (one session each, warm-up included), so a model
that passes ``validate`` will load in the gateway. ``validate`` exits 1 when any version fails.
A directory whose name is no model name is skipped by the gateway: both show it as such (state
``skipped``, version ``-``), and ``validate`` counts it as a failure.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gateway.commands.redaction import print_problems
from gateway.config import GatewayConfig, default_config, load_config
from gateway.domain import NAME_RULE, ModelState, ModelVersionStatus, TensorSpec
from gateway.errors import ConfigError
from gateway.inference.defaults import default_merge_limit, engine_options
from gateway.inference.engines.selection import EngineSelector, planned_provider
from gateway.inference.repository import ModelRepository
from gateway.printable import printable

EXIT_FAILED = 1
EXIT_INVALID = 2


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("models", help="list or validate the model repository")
    actions = parser.add_subparsers(dest="models_command", required=True, metavar="ACTION")
    for name, help_text, handler in (
        ("list", "load every model version and show its state", run_list),
        ("validate", "load every model version; exit 1 if any fails", run_validate),
    ):
        action = actions.add_parser(name, help=help_text)
        action.add_argument("--config", type=Path, help="gateway config (default: the embedded default)")
        action.add_argument("--repository", type=Path, help="model repository (default: from the config)")
        action.set_defaults(handler=handler)


SKIPPED = "skipped"
EMBEDDED_REPOSITORY_HINT = (
    " (the embedded default's, under the working directory; pass --config FILE or --repository DIR)"
)
INVALID_NAME = f"skipped: not a model name; a model name is {NAME_RULE}"


def run_list(arguments: argparse.Namespace) -> int:
    loaded = _load(arguments)
    if loaded is None:
        return EXIT_INVALID
    statuses, invalid_names = loaded
    rows = [("MODEL", "VERSION", "STATE", "PROVIDER", "MAX_BATCH", "INPUTS", "OUTPUTS", "REASON")]
    # A name is a directory's, and a reason may quote it or a tensor's name from the model file: each
    # printable, so a newline or an ANSI escape in one cannot forge a row or rewrite the terminal.
    rows.extend(
        (
            printable(status.name),
            str(status.version) if status.version else "-",
            status.state.value,
            status.provider or "-",
            str(status.max_batch_size),
            printable(_tensors(status.inputs)),
            printable(_tensors(status.outputs)),
            # A row each: a model.yaml's problems run on after "; ".
            "; ".join(_reason_lines(status.reason)),
        )
        for status in statuses
    )
    rows.extend((printable(name), "-", SKIPPED, "-", "-", "-", "-", INVALID_NAME) for name in invalid_names)
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + "  " + row[-1])
    return 0


def _reason_lines(reason: str | None) -> list[str]:
    """A version's reason, a line each (a model.yaml's problems are one to a line), each printable:
    escaped whole, they ran on with a backslash and an n between them."""
    return [printable(line) for line in (reason or "").split("\n")]


def run_validate(arguments: argparse.Namespace) -> int:
    loaded = _load(arguments)
    if loaded is None:
        return EXIT_INVALID
    statuses, invalid_names = loaded
    failed = [status for status in statuses if status.state is not ModelState.READY]
    for status in statuses:
        name = printable(status.name)
        if status.state is ModelState.READY:
            print(f"ok      {name}:{status.version} ({status.provider})")
        else:
            which = f"{name}:{status.version}" if status.version else name  # 0: the model has none
            # A model.yaml's problems one to a line, as check-config prints a config's.
            reason = "\n        ".join(_reason_lines(status.reason))
            print(f"FAILED  {which}: {reason}", file=sys.stderr)
    for invalid in invalid_names:
        print(f"FAILED  {printable(invalid)}: {INVALID_NAME}", file=sys.stderr)
    if not statuses and not invalid_names:
        print("no models found", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_FAILED if failed or invalid_names or not statuses else 0


def _load(arguments: argparse.Namespace) -> tuple[list[ModelVersionStatus], list[str]] | None:
    """Every version's status and the directories skipped for their names; None after saying why
    the repository could not be read."""
    try:
        config: GatewayConfig = load_config(arguments.config) if arguments.config else default_config()
    except ConfigError as exc:
        print_problems(exc.problems)
        return None
    root: Path = arguments.repository or config.models.repository
    if not root.is_dir():
        # Without either option the embedded default's ./models is read, which only a checkout has.
        named = arguments.repository or arguments.config
        hint = "" if named else EMBEDDED_REPOSITORY_HINT
        print(f"{root}: not a directory{hint}", file=sys.stderr)
        return None
    options = engine_options(config)
    settings = config.inference
    # Warm up with the largest batch serve's batcher forms, as serve does: the model's own
    # max_batch_size would cost memory serve never spends (and fail models serve loads).
    largest_batch = default_merge_limit(
        planned_provider(options), settings.max_batch_size, settings.model_fields_set
    )
    repository = ModelRepository(
        root,
        EngineSelector(),
        options,
        warmup_batches=config.models.warmup_batches,
        largest_batch=largest_batch,
    )
    repository.scan()
    repository.load_all()
    statuses = repository.statuses()
    invalid_names = repository.invalid_names()
    repository.close()
    return statuses, invalid_names


def _tensors(specs: tuple[TensorSpec, ...]) -> str:
    return ",".join(f"{spec.name}:{spec.datatype.value}{list(spec.shape)}".replace(" ", "") for spec in specs)
