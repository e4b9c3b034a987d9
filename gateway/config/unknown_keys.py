"""What to tell someone about a value pydantic refused, and for a key a config section does not have,
the key they likely meant.

The section is found by following the problem's key path through the config models' annotations
(lists, optional values, unions: a rule may be any rule type, so its keys are every rule type's).
"""

from __future__ import annotations

import types
import typing
from collections.abc import Iterable
from typing import Annotated, Any, Union

from pydantic import BaseModel
from pydantic_core import ErrorDetails

from gateway.config.value_messages import value_message
from gateway.suggestions import closest


def error_message(error: ErrorDetails, model: type[BaseModel], location: tuple[str | int, ...]) -> str:
    """The message for one of pydantic's errors in validating ``model``, at ``location`` in it."""
    if error["type"] == "extra_forbidden":
        return unknown_key_message(model, location)
    written = value_message(error)
    return error["msg"].removeprefix("Value error, ") if written is None else written


def unknown_key_message(model: type[BaseModel], location: tuple[str | int, ...]) -> str:
    """The message for the key ending ``location``, which the section holding it does not know."""
    if not location or not isinstance(location[-1], str):
        return "unknown key"
    meant = closest(location[-1], keys_at(model, location[:-1]))
    return "unknown key" if meant is None else f"unknown key; did you mean {meant!r}?"


def keys_at(model: type[BaseModel], path: tuple[str | int, ...]) -> set[str]:
    """Every key the sections at ``path`` (from the top of ``model``) may hold."""
    annotations: list[Any] = [model]
    for part in path:
        annotations = [inner for annotation in annotations for inner in _step(annotation, part)]
    return {name for annotation in annotations for section in _models(annotation) for name in _keys(section)}


def _step(annotation: Any, part: str | int) -> Iterable[Any]:
    for member in _members(annotation):
        origin = typing.get_origin(member)
        if isinstance(part, int) and origin in (list, tuple):
            yield typing.get_args(member)[0]
        elif isinstance(part, str) and origin is dict:
            yield typing.get_args(member)[1]
        elif isinstance(part, str) and isinstance(member, type) and issubclass(member, BaseModel):
            field = member.model_fields.get(part)
            if field is not None:
                yield field.annotation


def _models(annotation: Any) -> Iterable[type[BaseModel]]:
    for member in _members(annotation):
        if isinstance(member, type) and issubclass(member, BaseModel):
            yield member


def _members(annotation: Any) -> Iterable[Any]:
    """``annotation`` with Annotated, Optional and unions taken apart."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        yield from _members(typing.get_args(annotation)[0])
    elif origin is Union or origin is types.UnionType:
        for member in typing.get_args(annotation):
            yield from _members(member)
    else:
        yield annotation


def _keys(model: type[BaseModel]) -> Iterable[str]:
    for name, field in model.model_fields.items():
        yield field.alias or name
