"""Stamp existing models with their cards' facts (ONNX metadata_props) and re-pin the sha256.

Models built by `fishgate train` / `train-detector` are stamped when built; this is for
models made before the stamp existed (the bundled ones were stamped with it once).
The card's other fields, its version included, are kept as they are.

    python tools/stamp_models.py fishgate/bundled/models/*.onnx
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from fishgate.training.card import stamp_model
from fishgate.vision.classifier import CARD_FORMAT, load_card
from fishgate.vision.learned import load_detector_card
from fishgate.vision.onnx_model import file_sha256


def main(models: list[str]) -> int:
    for name in models:
        model = Path(name)
        card_path = model.with_suffix(".json")
        data = json.loads(card_path.read_text(encoding="utf-8"))
        if data.get("sha256") != file_sha256(model):
            print(f"{model}: does not match its card now; refusing to re-pin it", file=sys.stderr)
            return 1
        card = load_card(card_path) if data.get("format") == CARD_FORMAT else load_detector_card(card_path)
        stamp_model(model, card.model_facts())
        data["sha256"] = file_sha256(model)
        card_path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
        print(f"{model}: stamped, sha256 {data['sha256'][:12]}…")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
