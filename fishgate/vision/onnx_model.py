"""What every bundled ONNX model shares: its JSON card, the sha256 that ties the two
together, and an ONNX Runtime session on the CPU with one-line errors.

The facts the runtime feeds the model by (labels, input size, normalisation) are
also stamped into the ONNX file's own metadata (`metadata_props`) when it is built,
so the sha256 covers them: a card edited to swap two labels still matches the file's
digest, but no longer matches what the file says about itself, and is refused.

The species classifier and the learned fish detector each read their own card's
fields; reading the file, checking the model against it and opening the session is
done here once.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from fishgate.errors import ModelError


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_card(path: Path, card_format: str, kind: str) -> dict[str, Any]:
    """The card's JSON object, if it is a card of `card_format`; `kind` names it in errors."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(
            f"{path}: {kind} card not found (it sits beside the .onnx with a .json suffix)"
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{path}: {kind} card is not readable JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != card_format:
        raise ModelError(f"{path}: not a fishgate {kind} card (expected format {card_format!r})")
    return data


def require_model(model_path: Path, what: str, hint: str) -> None:
    """Checked before its card: a missing model is the first thing to say."""
    if not model_path.is_file():
        raise ModelError(f"{model_path}: {what} not found ({hint})")


def open_checked_model(model_path: Path, card_path: Path, sha256: str, hint: str, threads: int) -> Any:
    """An ONNX Runtime session for a model file that matches its card's sha256."""
    digest = file_sha256(model_path)
    if digest != sha256:
        raise ModelError(
            f"{model_path}: sha256 {digest[:12]}… does not match its card {card_path.name} "
            f"({sha256[:12]}…): the model file is corrupt or the card belongs to another model ({hint})"
        )
    return open_session(model_path, threads)


METADATA_KEY = "fishgate.card"  # the metadata_props entry: the card's facts as JSON


def canonical(facts: dict[str, Any]) -> str:
    """One spelling of a card's facts (tuples become lists, keys sorted), for stamping and comparing."""
    return json.dumps(facts, sort_keys=True, separators=(",", ":"))


def check_stamp(session: Any, model_path: Path, card_path: Path, facts: dict[str, Any], hint: str) -> None:
    """The model's own metadata says what its card says, fact by fact."""
    raw = session.get_modelmeta().custom_metadata_map.get(METADATA_KEY)
    if raw is None:
        raise ModelError(
            f"{model_path}: the model file does not carry its labels, input size and "
            f"normalisation ({METADATA_KEY} metadata), so nothing ties it to {card_path.name} ({hint})"
        )
    try:
        stamped = json.loads(raw)
    except json.JSONDecodeError:
        raise ModelError(f"{model_path}: its {METADATA_KEY} metadata is not JSON ({hint})") from None
    expected = json.loads(canonical(facts))
    for key, value in expected.items():
        if not isinstance(stamped, dict) or stamped.get(key) != value:
            found = stamped.get(key) if isinstance(stamped, dict) else stamped
            raise ModelError(
                f"{model_path}: card {card_path.name} says {key} = {value}, but the model file says "
                f"{found}: the card was edited or belongs to another model ({hint})"
            )


def check_image_input(session: Any, model_path: Path, input_name: str, height: int, width: int) -> None:
    """The model takes one (N, 3, height, width) input named as its card says."""
    inputs = session.get_inputs()
    if len(inputs) != 1 or inputs[0].name != input_name:
        names = [i.name for i in inputs]
        raise ModelError(f"{model_path}: model inputs {names} do not match the card's {input_name!r}")
    shape = list(inputs[0].shape)
    if len(shape) != 4 or shape[1:] != [3, height, width]:
        raise ModelError(
            f"{model_path}: model input shape {shape} does not match the card's [N, 3, {height}, {width}]"
        )


def open_session(model_path: Path, threads: int) -> Any:
    import onnxruntime as ort  # imported here: `fishgate --help` should not pay for it

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3  # ORT's own warnings would drown the one-line errors
    try:
        return ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # ORT raises its own Fail/InvalidProtobuf/... types
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"{model_path}: ONNX Runtime cannot load the model ({first[:200]})") from None
