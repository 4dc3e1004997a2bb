"""The last step of every model build: a card beside the .onnx that names it, pins its
sha256 and records how it was made (the runtime refuses a model its card does not match)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar


class _Card(Protocol):
    def to_json(self) -> dict[str, Any]: ...


CardT = TypeVar("CardT", bound=_Card)


def write_card(model: Path, card: CardT, name: str, record: dict[str, Any]) -> Path:
    """Fill `card` (a ModelCard or DetectorCard draft) for `model` and write MODEL.json."""
    from fishgate.vision.onnx_model import file_sha256

    digest = file_sha256(model)
    final = replace(  # type: ignore[type-var]
        card,
        model_file=model.name,
        sha256=digest,
        version=f"{name}-{datetime.now(UTC):%Y%m%d}-{digest[:8]}",
        extra=record,
    )
    path = model.with_suffix(".json")
    path.write_text(json.dumps(final.to_json(), indent=1) + "\n", encoding="utf-8")
    return path
