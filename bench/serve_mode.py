"""The command line of the benchmarks whose own script, in an internal ``serve`` mode, is the gateway
they measure in a child process (serving.py, request_cpu.py): the model and input size they send,
and the choice between the two modes."""

from __future__ import annotations

import argparse
from collections.abc import Callable

Main = Callable[[argparse.Namespace], int]


def serve_mode_parser(description: str | None) -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    """The benchmark's parser and its ``serve`` mode's, with the options both benchmarks take; the
    caller adds its own to each."""
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="mode")
    serve_parser = sub.add_parser("serve", help="internal: run the gateway for the benchmark")
    serve_parser.add_argument("--config", required=True)
    parser.add_argument("--model", default="face-detector")
    parser.add_argument("--size", type=int, default=320, help="for dynamic height/width")
    return parser, serve_parser


def run_mode(arguments: argparse.Namespace, serve_main: Main, bench_main: Main) -> int:
    """The gateway in the ``serve`` mode (the child process), else the benchmark that drives it."""
    if arguments.mode == "serve":
        return serve_main(arguments)
    return bench_main(arguments)
