"""Building blocks of the config models: the strict frozen section, identifiers, fractions, model names."""

from __future__ import annotations

from typing import Annotated

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
)

from gateway.domain import ModelReference

IDENTIFIER = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
PositiveFloat = Annotated[float, Field(gt=0)]
Fraction = Annotated[float, Field(ge=0, le=1)]
Point = tuple[Fraction, Fraction]


def _model_reference(value: object) -> ModelReference:
    if isinstance(value, ModelReference):
        return value
    if not isinstance(value, str):
        raise ValueError("must be a model name or name:version")
    return ModelReference.parse(value)


ModelReferenceField = Annotated[
    ModelReference, PlainValidator(_model_reference), PlainSerializer(str, return_type=str)
]
"""``name`` or ``name:version`` in the file, parsed once into a ``ModelReference``."""


class Section(BaseModel):
    # NaN passes no comparison a validator makes (a NaN in_direction was taken as a line's), and no
    # setting means "forever" by infinity.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
