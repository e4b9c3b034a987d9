"""NVIDIA Triton (from the ``nvidia-pytriton`` wheel) serving an ONNX model through its Python
backend, for bench/peers.py: one model instance per core, each a single-threaded ONNX Runtime
session (the gateway's session options), Triton's dynamic batcher in front.

Runs under its own virtual environment (``bench/peers.py`` creates it: pytriton needs numpy < 2),
imports nothing of the gateway, prints ``READY <http port>`` once the model is loaded and serves
until stdin closes.

    python bench/triton_peer.py MODEL_FILE NAME INPUT OUTPUT INSTANCES HTTP_PORT GRPC_PORT METRICS_PORT
"""

from __future__ import annotations

import os
import sys
from typing import Any

import numpy as np
import onnxruntime as ort
from pytriton.decorators import batch
from pytriton.model_config import DynamicBatcher, ModelConfig, Tensor
from pytriton.triton import Triton, TritonConfig

MAX_BATCH = 8


def session(model_file: str) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(model_file, options, providers=["CPUExecutionProvider"])


def instance(model_file: str, input_name: str, output_name: str) -> Any:
    engine = session(model_file)

    @batch  # type: ignore[untyped-decorator]
    def infer(**inputs: np.ndarray) -> dict[str, np.ndarray]:
        (output,) = engine.run([output_name], {input_name: inputs[input_name]})
        return {output_name: output}

    return infer


def dims(shape: list[Any]) -> tuple[int, ...]:
    """An ONNX shape without its batch dimension, named dimensions as -1 (dynamic)."""
    return tuple(dim if isinstance(dim, int) and dim > 0 else -1 for dim in shape[1:])


def main(argv: list[str]) -> int:
    model_file, name, input_name, output_name, instances, http, grpc, metrics = argv
    first = session(model_file)
    input_shape = dims(first.get_inputs()[0].shape)
    output_shape = dims(first.get_outputs()[0].shape)
    del first
    config = TritonConfig(http_port=int(http), grpc_port=int(grpc), metrics_port=int(metrics), log_verbose=0)
    with Triton(config=config) as triton:
        triton.bind(
            model_name=name,
            infer_func=[instance(model_file, input_name, output_name) for _ in range(int(instances))],
            inputs=[Tensor(name=input_name, dtype=np.float32, shape=input_shape)],
            outputs=[Tensor(name=output_name, dtype=np.float32, shape=output_shape)],
            config=ModelConfig(max_batch_size=MAX_BATCH, batcher=DynamicBatcher()),
            strict=True,
        )
        triton.run()
        print(f"READY {http}", flush=True)
        while os.read(sys.stdin.fileno(), 1):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
