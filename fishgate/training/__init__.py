"""Making the species model: crops from annotated footage, training, export, quantisation.

Only `dataset` is importable without the `[train]` extra (torch, onnx).
"""
