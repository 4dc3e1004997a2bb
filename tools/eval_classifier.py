#!/usr/bin/env python3
"""Species model accuracy on annotated clips, set against what its card promises.

    python tools/eval_classifier.py ../shared/footage/*-02.xml [--model MODEL.onnx] [--stride 5]

Each NAME.xml needs NAME.mp4 beside it. Prints accuracy per crop and per track (the
majority vote of a fish's crops), per class, the confusion matrix, and then, for
each figure, the card's claim, the lowest value consistent with that claim on this
many tracks (tests/test_classifier.py asserts this floor), and the measurement.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from fishgate.config import bundled_path
from fishgate.training.dataset import clip_crops, concat
from fishgate.training.report import accuracy_floor, format_report, validation_report
from fishgate.vision.classifier import SpeciesClassifier


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("truth", type=Path, nargs="+", metavar="NAME.xml")
    parser.add_argument("--model", type=Path, default=bundled_path("models/species-int8.onnx"))
    parser.add_argument("--stride", type=int, default=5, help="use every N-th annotated frame (default 5)")
    args = parser.parse_args()
    classifier = SpeciesClassifier(args.model)
    card = classifier.card
    crops = concat(
        [
            clip_crops(xml.with_suffix(".mp4"), xml, size=(card.width, card.height), stride=args.stride)
            for xml in args.truth
        ]
    )
    report = validation_report(classifier.probabilities(crops.images), crops)
    print(format_report(report))
    claimed = json.loads(args.model.with_suffix(".json").read_text(encoding="utf-8")).get("validation", {})
    print(
        f"\n{'figure':<16}{'card':>9}{'floor':>9}{'measured':>10}"
        f"  (floor: 95% lower bound on {report['tracks']} tracks)"
    )
    kept = True
    for key in ("track_accuracy", "crop_accuracy"):
        if key not in claimed:
            print(f"{key:<16}{'-':>9}{'-':>9}{report[key]:>10.4f}  the card claims nothing")
            continue
        floor = accuracy_floor(claimed[key], report["tracks"])
        ok = report[key] >= floor
        kept &= ok
        print(f"{key:<16}{claimed[key]:>9.4f}{floor:>9.4f}{report[key]:>10.4f}  {'ok' if ok else 'BELOW'}")
    return 0 if kept else 1


if __name__ == "__main__":
    sys.exit(main())
