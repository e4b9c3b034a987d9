"""Building blocks of the config models: the strict frozen section, numbers, identifiers, fractions,
model names."""

from __future__ import annotations

import datetime
import re
from pathlib import Path
from typing import Annotated
from urllib.parse import SplitResult

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
)

from gateway.domain import NAME_RULE, ModelReference
from gateway.url_credentials import split_user_info

IDENTIFIER = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
IDENTIFIER_RULE = NAME_RULE
_IDENTIFIER = re.compile(IDENTIFIER.removeprefix("^").removesuffix("$"))

_SHOWN_CHARACTERS = 40
"""Longest text quoted back in a problem: the console sends its body's values back in a 400."""


def shown(text: str) -> str:
    """``text`` quoted for a problem, cut to _SHOWN_CHARACTERS. A URL that is cut loses its user
    info and query first: cut short of its '@', a password is no longer one the last guard's
    redaction finds (``value_messages`` names such a value by its kind for the same reason)."""
    if len(text) > _SHOWN_CHARACTERS and "://" in text:
        text = without_credentials(text)
    return repr(text if len(text) <= _SHOWN_CHARACTERS else f"{text[:_SHOWN_CHARACTERS]}...")


def _identifier(value: str) -> str:
    # fullmatch: Python's '$' would also match before a final newline.
    if not _IDENTIFIER.fullmatch(value):
        raise ValueError(f"{shown(value)} is not a valid name: a name is {IDENTIFIER_RULE}")
    return value


def _name_text(value: object) -> object:
    """``value`` for the string check, which says only "Input should be a valid string" of what YAML
    read as another type from an unquoted name: ``2026-01-01`` (a date), ``123``, ``yes``."""
    if isinstance(value, bool):
        raise ValueError(
            f"expected a name, got the boolean {str(value).lower()} (in YAML, unquoted yes, no, on and "
            "off are booleans too): quote it"
        )
    if isinstance(value, (int, float, datetime.date)):
        kind = "date" if isinstance(value, datetime.date) else "number"
        raise ValueError(f"expected a name, got the {kind} {value}: quote it to use it as a name")
    return value


Identifier = Annotated[str, BeforeValidator(_name_text), AfterValidator(_identifier)]
"""A name or id (camera, zone, line, rule, device): IDENTIFIER, refused in words."""

TOPIC_PREFIX_RULE = "not empty, not starting with '/', and without the MQTT wildcards '#' and '+'"


def _topic_prefix(value: str) -> str:
    if not value or value.startswith("/") or "#" in value or "+" in value:
        raise ValueError(f"{shown(value)} is not a valid MQTT topic prefix: it must be {TOPIC_PREFIX_RULE}")
    return value


TopicPrefix = Annotated[str, AfterValidator(_topic_prefix)]
"""The first level(s) of every MQTT topic the gateway and the audit service use."""


def _no_boolean_or_text(value: object) -> object:
    """``value`` for pydantic's own number check, which would take ``true`` for 1 and ``"0.5"`` for
    0.5: in YAML an unquoted yes, no, on or off is a boolean, and a quoted number is a string, each
    a slip the file should be told of rather than a value to guess at."""
    if isinstance(value, bool):
        raise ValueError(
            f"expected a number, got the boolean {str(value).lower()} (in YAML, unquoted yes, no, on "
            "and off are booleans too)"
        )
    if isinstance(value, str):
        raise ValueError(f"expected a number, got the string {shown(value)}: write numbers without quotes")
    return value


Number = Annotated[float, BeforeValidator(_no_boolean_or_text)]
"""A float field: an int is taken (``[0, 1]``), a boolean or a string is refused by name."""
Integer = Annotated[int, BeforeValidator(_no_boolean_or_text)]
"""An int field: a boolean or a string is refused by name."""
PositiveFloat = Annotated[Number, Field(gt=0)]

# Every duration has an upper bound: a huge one overflows where it is used (threading waits refuse
# more than threading.TIMEOUT_MAX, OpenCV takes camera timeouts as int32 milliseconds) and is never
# what was meant. Infinity is refused by Section.
HOUR_S = 3600.0
"""Longest timeout: how long one operation may take before it counts as failed."""
DAY_S = 24 * HOUR_S
"""Longest interval, backoff, hold or event duration."""
RETENTION_S = 3650 * DAY_S
"""Longest time stored alerts are kept (ten years)."""

Timeout = Annotated[Number, Field(gt=0, le=HOUR_S)]
"""Seconds, more than 0 and at most an hour."""
Interval = Annotated[Number, Field(gt=0, le=DAY_S)]
"""Seconds, more than 0 and at most a day."""
Delay = Annotated[Number, Field(ge=0, le=DAY_S)]
"""Seconds, 0 or more and at most a day."""
Fraction = Annotated[Number, Field(ge=0, le=1)]
Point = tuple[Fraction, Fraction]


def without_credentials(url: str) -> str:
    """A URL to show in a config problem: no user info, no query (it may hold a token)."""
    scheme, _, address = split_user_info(url)
    return f"{scheme}{address.partition('?')[0]}" if scheme else url


def checked_port(url: str, parts: SplitResult) -> int | None:
    """The port of ``url`` (split as ``parts``), None when it names none; ValueError naming the URL
    when it is not 1-65535."""
    if "@" in url.partition("://")[2] and "@" not in parts.netloc:
        # Most likely a password holding '/', '?' or '#': what urlsplit would take for the host and
        # port is then a piece of it, and the reader would log the rest as the path.
        raise ValueError(
            f"{without_credentials(url)}: an '@' after the host: percent-encode '/', '?' and '#' in a "
            "user name or password (%2F, %3F, %23), and an '@' anywhere else (%40)"
        )
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0:
        address = parts.netloc.rpartition("@")[2]
        written = (address.rpartition("]")[2] if address.startswith("[") else address).partition(":")[2]
        raise ValueError(f"{without_credentials(url)}: port {written!r} is not a number from 1 to 65535")
    return port


def _path_text(value: object) -> object:
    """``value`` for pydantic's own path check, which takes ``""`` for the current directory (an
    unset variable or a slip, never meant for a state_dir), a NUL that every later open refuses
    with a bare ValueError, and a ``~`` that nothing expands here (a directory named ``~``)."""
    if not isinstance(value, str):
        return value
    if not value:
        raise ValueError("the path is empty: write '.' for the current directory")
    if "\0" in value:
        raise ValueError(f"{shown(value)} holds a NUL character, which no path may hold")
    if value.startswith("~"):
        raise ValueError(
            f"{shown(value)}: '~' is not expanded in the config: write the whole path "
            "(or ${STATE_DIRECTORY} and the other systemd directories)"
        )
    return value


FilePath = Annotated[Path, BeforeValidator(_path_text)]
"""A file or directory path: not empty, no NUL, no '~' to expand; relative ones are from the working
directory."""


def _model_reference(value: object) -> ModelReference:
    if isinstance(value, ModelReference):
        return value
    if not isinstance(value, str):
        raise ValueError("must be a model name or name:version")
    name = value.partition(":")[0]
    if not _IDENTIFIER.fullmatch(name):
        # Checked here too, so the file's author reads the rule in words, not ModelReference's pattern.
        raise ValueError(f"model reference {shown(value)}: a model name is {IDENTIFIER_RULE}")
    return ModelReference.parse(value)


ModelReferenceField = Annotated[
    ModelReference, PlainValidator(_model_reference), PlainSerializer(str, return_type=str)
]
"""``name`` or ``name:version`` in the file, parsed once into a ``ModelReference``."""


class Section(BaseModel):
    # NaN passes no comparison a validator makes (a NaN in_direction was taken as a line's), and no
    # setting means "forever" by infinity.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
