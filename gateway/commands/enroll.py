"""``edge-gateway enroll --camera ID [--seconds N | --frames DIR] [--config FILE]``: learn a camera's
normal scene and write the next version of ``scene-anomaly-{ID}``; exit 2 on bad input.

``--config -`` reads the config from standard input, as ``check-config -`` does (the same loader):
enroll reads its config once and takes nothing else from standard input, so a pipeline's config is as
good as a file's. Its problems name ``<stdin>``; relative paths in it (the model repository the
model is written to) are taken from the working directory, as they are for a file."""

from __future__ import annotations

import argparse
import math
import os
import re
import sys
from collections.abc import Iterable
from pathlib import Path

from gateway.commands.check_config import STDIN, load_config_argument
from gateway.commands.preflight import EMBEDDED
from gateway.commands.redaction import print_problems
from gateway.config import IDENTIFIER, ConfigSource, default_config
from gateway.domain import NAME_RULE, Image
from gateway.enroll import (
    enroll_frames,
    find_camera,
    frames_from_folder,
    frames_from_stream,
    image_paths,
    model_name,
)
from gateway.errors import ConfigError, GatewayError, SourceError
from gateway.wording import counted

EXIT_INVALID = 2
EXIT_FAILED = 1
DEFAULT_SECONDS = 60.0
MAX_SECONDS = 86_400.0
"""A day: the sampled frames' features are kept in memory until the fit."""
_MODEL_NAME = re.compile(IDENTIFIER)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "enroll", help="learn a camera's normal scene; writes the next scene-anomaly model version"
    )
    parser.add_argument("--camera", required=True, help="camera id from the config")
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--seconds",
        type=seconds_option,
        help=f"seconds of the camera's stream to learn from, at most {MAX_SECONDS:g} "
        f"(default {DEFAULT_SECONDS:g})",
    )
    source.add_argument(
        "--frames", type=Path, help="folder of images of the normal scene, instead of the stream"
    )
    parser.add_argument(
        "--config",
        type=Path,
        help=f"config file, {STDIN} for standard input (default: the embedded default config)",
    )
    parser.set_defaults(handler=run)


def seconds_option(text: str) -> float:
    """A finite duration above 0 and at most a day: ``nan`` or ``inf`` would never end the stream."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(value) or value <= 0 or value > MAX_SECONDS:
        raise argparse.ArgumentTypeError(f"must be above 0 and at most {MAX_SECONDS:g}, got {text!r}")
    return value


def _check_model_name(camera_id: str, index: int, source: ConfigSource) -> None:
    """ConfigError when the camera's model name is no model name: a camera id may be 64 characters,
    the name adds 14, and the repository skips a directory whose name no config could reference.
    Said before the minutes of learning, not after them."""
    name = model_name(camera_id)
    if not _MODEL_NAME.fullmatch(name):
        raise ConfigError(
            [
                source.problem(
                    ("cameras", index, "id"),
                    f"camera {camera_id!r} cannot be enrolled: its model name {name!r} is {len(name)} "
                    f"characters, and a model name is {NAME_RULE}; give the camera a shorter id",
                )
            ]
        )


def _progress(message: str) -> None:
    print(f"enroll: {message}", file=sys.stderr, flush=True)


def run(arguments: argparse.Namespace) -> int:
    try:
        if arguments.config is not None:
            config, source = load_config_argument(arguments.config, dict(os.environ))
        else:
            config, source = default_config(), EMBEDDED
        camera = find_camera(config, arguments.camera, source.name)
        _check_model_name(camera.id, config.cameras.index(camera), source)
        if arguments.frames is not None:
            paths = image_paths(arguments.frames)
            _progress(f"{counted(len(paths), 'image')} in {arguments.frames}")
            frames: Iterable[Image] = frames_from_folder(paths, _progress)
        else:
            seconds = arguments.seconds if arguments.seconds is not None else DEFAULT_SECONDS
            frames = frames_from_stream(camera, seconds, _progress)
        enrollment = enroll_frames(
            frames, camera_id=camera.id, repository=config.models.repository, progress=_progress
        )
    except ConfigError as exc:
        print_problems(exc.problems, "error: ")
        return EXIT_INVALID
    except SourceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    except GatewayError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(f"{enrollment.model}:{enrollment.version} {enrollment.model_path} ({enrollment.frames} frames)")
    return 0
