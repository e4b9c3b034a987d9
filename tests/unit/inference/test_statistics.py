from __future__ import annotations

from gateway.domain import BatchStatistics, Duration, ModelRef
from gateway.inference.statistics import Answer, InferenceStatistics

REF = ModelRef("detector", 3)


def test_a_batch_counts_once_and_its_requests_each_with_the_batch_steps() -> None:
    statistics = InferenceStatistics(clock_ms=lambda: 1_700_000_000_123)

    # Given a batch of 3 rows from two requests, the second failing in its postprocess
    statistics.executed(REF, 3, input_ns=100, infer_ns=5_000)
    statistics.answered(
        REF, 3, Answer(1, queue_ns=40, request_ns=6_000, output_ns=30, succeeded=True), 100, 5_000
    )
    statistics.answered(
        REF, 3, Answer(2, queue_ns=60, request_ns=6_500, output_ns=50, succeeded=False), 100, 5_000
    )
    # and a batch whose engine failed, for two requests
    statistics.failed(REF, [700, 900])

    figures = statistics.of(REF)

    assert (figures.last_inference_ms, figures.inference_count, figures.execution_count) == (
        1_700_000_000_123,
        1,
        1,
    )
    assert figures.success == Duration(1, 6_000)
    assert figures.fail == Duration(3, 6_500 + 700 + 900)
    assert figures.queue == Duration(2, 100)
    assert (figures.compute_input, figures.compute_infer, figures.compute_output) == (
        Duration(1, 100),
        Duration(1, 5_000),
        Duration(1, 30),
    )
    assert figures.batches == (BatchStatistics(3, Duration(1, 100), Duration(1, 5_000), Duration(1, 80)),)


def test_a_version_that_ran_nothing_is_all_zero() -> None:
    figures = InferenceStatistics().of(REF)
    assert (figures.ref, figures.last_inference_ms, figures.inference_count, figures.batches) == (
        REF,
        0,
        0,
        (),
    )
    assert figures.success == figures.fail == figures.queue == Duration()
