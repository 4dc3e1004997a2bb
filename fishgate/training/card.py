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

    def model_facts(self) -> dict[str, Any]: ...


def stamp_model(model: Path, facts: dict[str, Any]) -> None:
    """Write the card's facts into the ONNX file's metadata_props (replacing an older stamp)."""
    import onnx  # a training dependency: the runtime reads the stamp through ONNX Runtime

    from fishgate.vision.onnx_model import METADATA_KEY, canonical

    proto = onnx.load(str(model))
    kept = [p for p in proto.metadata_props if p.key != METADATA_KEY]
    del proto.metadata_props[:]
    proto.metadata_props.extend(kept)
    entry = proto.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, canonical(facts)
    onnx.save(proto, str(model))


CardT = TypeVar("CardT", bound=_Card)


def write_card(model: Path, card: CardT, name: str, record: dict[str, Any]) -> Path:
    """Stamp `model` with the card's facts, then fill `card` (a ModelCard or DetectorCard
    draft) for it and write MODEL.json: the sha256 is taken after the stamp, so covers it."""
    from fishgate.vision.onnx_model import file_sha256

    stamp_model(model, card.model_facts())
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
