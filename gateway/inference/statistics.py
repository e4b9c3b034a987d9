"""What each model version has run since start, for the OIP v2 statistics extension
(``GET /v2/models/{name}/stats``): the figures Triton reports, so its clients and perf_analyzer read
them unchanged. Workers add a request's figures before they answer it, so a client that reads the
statistics after its answer finds its request counted.

Each request's figures run from its submission (after the API has read and checked it) to its
answer: ``queue`` until a worker took its batch, ``compute_input`` the merge of the batch's inputs,
``compute_infer`` the engine's run, ``compute_output`` splitting and post-processing its rows.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from gateway.domain import BatchStatistics, Duration, ModelRef, ModelStatistics


@dataclass(slots=True)
class _Sum:
    count: int = 0
    ns: int = 0

    def add(self, ns: int, count: int = 1) -> None:
        self.count += count
        self.ns += ns

    def frozen(self) -> Duration:
        return Duration(self.count, self.ns)


@dataclass(slots=True)
class _BatchSums:
    compute_input: _Sum = field(default_factory=_Sum)
    compute_infer: _Sum = field(default_factory=_Sum)
    compute_output: _Sum = field(default_factory=_Sum)


@dataclass(slots=True)
class _VersionSums:
    last_inference_ms: int = 0
    inference_count: int = 0
    execution_count: int = 0
    success: _Sum = field(default_factory=_Sum)
    fail: _Sum = field(default_factory=_Sum)
    queue: _Sum = field(default_factory=_Sum)
    compute_input: _Sum = field(default_factory=_Sum)
    compute_infer: _Sum = field(default_factory=_Sum)
    compute_output: _Sum = field(default_factory=_Sum)
    batches: dict[int, _BatchSums] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Answer:
    """One request of a batch as it was answered: its rows, its time in the queue and since it was
    submitted, its share of the output step, and whether it succeeded."""

    rows: int
    queue_ns: int
    request_ns: int
    output_ns: int
    succeeded: bool


class InferenceStatistics:
    def __init__(self, clock_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000) -> None:
        self._clock_ms = clock_ms
        self._lock = threading.Lock()
        self._versions: dict[ModelRef, _VersionSums] = {}

    def executed(self, ref: ModelRef, rows: int, input_ns: int, infer_ns: int) -> None:
        """A batch of ``rows`` ran: its inputs merged in ``input_ns``, the engine in ``infer_ns``.
        Its requests are counted as they are answered (``answered``)."""
        finished_ms = self._clock_ms()
        with self._lock:
            sums = self._versions.setdefault(ref, _VersionSums())
            sums.last_inference_ms = finished_ms
            sums.execution_count += 1
            batch = sums.batches.setdefault(rows, _BatchSums())
            batch.compute_input.add(input_ns)
            batch.compute_infer.add(infer_ns)
            batch.compute_output.add(0)

    def answered(self, ref: ModelRef, batch_rows: int, answer: Answer, input_ns: int, infer_ns: int) -> None:
        """One request of a batch of ``batch_rows`` (see ``executed``) is about to be answered."""
        with self._lock:
            sums = self._versions.setdefault(ref, _VersionSums())
            sums.queue.add(answer.queue_ns)
            sums.batches.setdefault(batch_rows, _BatchSums()).compute_output.add(answer.output_ns, count=0)
            if answer.succeeded:
                sums.inference_count += answer.rows
                sums.success.add(answer.request_ns)
                sums.compute_input.add(input_ns)
                sums.compute_infer.add(infer_ns)
                sums.compute_output.add(answer.output_ns)
            else:
                sums.fail.add(answer.request_ns)

    def failed(self, ref: ModelRef, request_ns: Sequence[int]) -> None:
        """Requests of a batch that failed before its engine answered (the engine raised, the version
        was gone, or it takes other inputs than the request was checked against)."""
        with self._lock:
            fail = self._versions.setdefault(ref, _VersionSums()).fail
            for ns in request_ns:
                fail.add(ns)

    def of(self, ref: ModelRef) -> ModelStatistics:
        """``ref``'s figures now (all zero for a version that has run nothing)."""
        with self._lock:
            sums = self._versions.get(ref) or _VersionSums()
            batches = tuple(
                BatchStatistics(
                    size,
                    batch.compute_input.frozen(),
                    batch.compute_infer.frozen(),
                    batch.compute_output.frozen(),
                )
                for size, batch in sorted(sums.batches.items())
            )
            return ModelStatistics(
                ref=ref,
                last_inference_ms=sums.last_inference_ms,
                inference_count=sums.inference_count,
                execution_count=sums.execution_count,
                success=sums.success.frozen(),
                fail=sums.fail.frozen(),
                queue=sums.queue.frozen(),
                compute_input=sums.compute_input.frozen(),
                compute_infer=sums.compute_infer.frozen(),
                compute_output=sums.compute_output.frozen(),
                batches=batches,
            )
