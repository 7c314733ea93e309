"""Small helpers every handler uses at its boundary."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from lambdas.errors import InvalidEvent

M = TypeVar("M", bound=BaseModel)


def parse(model: type[M], event: Any) -> M:
    """Validate a task input, turning pydantic's error into ``InvalidEvent`` (caught, not retried)."""
    try:
        return model.model_validate(event)
    except ValidationError as exc:
        raise InvalidEvent(f"{model.__name__}: {exc}") from exc
