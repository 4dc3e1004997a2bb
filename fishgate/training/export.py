"""ONNX export, INT8 static quantisation with ONNX Runtime, and the model card."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from torch import nn

from fishgate.training.dataset import CropSet
from fishgate.training.train import MEAN, STD
from fishgate.vision.classifier import ModelCard, preprocess

INPUT_NAME = "crops"


class _WithSoftmax(nn.Module):
    """The exported graph ends in probabilities, so the runtime needs no softmax of its own."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.net(x), dim=1)


def export_fp32(model: nn.Module, path: Path, height: int, width: int) -> None:
    model.eval()
    dummy = torch.zeros(1, 3, height, width)
    torch.onnx.export(
        _WithSoftmax(model),
        (dummy,),
        str(path),
        input_names=[INPUT_NAME],
        output_names=["probabilities"],
        dynamic_axes={INPUT_NAME: {0: "batch"}, "probabilities": {0: "batch"}},
        opset_version=17,
        dynamo=False,
    )


def draft_card(labels: tuple[str, ...], height: int, width: int, unknown_below: float) -> ModelCard:
    """A card for preprocessing before the model file (and so its sha256) exists."""
    return ModelCard(
        model_file="",
        sha256="",
        labels=labels,
        input_name=INPUT_NAME,
        height=height,
        width=width,
        channel_order="RGB",
        mean=MEAN,
        std=STD,
        unknown_below=unknown_below,
    )


class _Calibration:
    """Feeds ONNX Runtime's calibrator preprocessed training crops, a batch at a time."""

    def __init__(self, crops: np.ndarray, card: ModelCard, batch: int = 64) -> None:
        self._batches: Iterator[np.ndarray] = (
            preprocess(crops[i : i + batch], card) for i in range(0, len(crops), batch)
        )

    def get_next(self) -> dict[str, np.ndarray] | None:
        x = next(self._batches, None)
        return None if x is None else {INPUT_NAME: x}

    def rewind(self) -> None:  # the calibrator reads once; nothing to rewind
        pass


def calibration_sample(crops: CropSet, count: int, seed: int) -> np.ndarray:
    """A class-stratified sample of training crops, so rare species shape the INT8 ranges too."""
    rng = np.random.default_rng(seed)
    per_class = max(1, count // len(crops.label_names))
    picks = [
        rng.choice(
            np.flatnonzero(crops.labels == c), min(per_class, int((crops.labels == c).sum())), replace=False
        )
        for c in range(len(crops.label_names))
        if (crops.labels == c).any()
    ]
    chosen: np.ndarray = crops.images[np.sort(np.concatenate(picks))]
    return chosen


def quantise_int8(fp32: Path, int8: Path, calibration: np.ndarray, card: ModelCard) -> None:
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(fp32), str(prepared), skip_symbolic_shape=True)
        quantize_static(
            str(prepared),
            str(int8),
            _Calibration(calibration, card),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
        )
