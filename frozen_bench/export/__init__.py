"""Export of finished runs for the edge: ONNX or TorchScript, optionally quantized (``frozen-bench export``)."""
