"""One ``POST .../infer`` of the Open Inference Protocol v2, whichever server answers it (aiohttp's
handler in v2.py, or the front door's own for admitted requests: door_infer.py): its body parsed,
checked against the model before it costs anything (a load on demand included), queued, awaited
and encoded (tensors.py)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from concurrent.futures import Executor, Future
from dataclasses import dataclass

from gateway.api.context import (
    OFFLOAD_BYTES,
    OFFLOAD_COPY_BYTES,
    OFFLOAD_VALUES,
    RUNNING_GRACE_S,
    ApiContext,
    check_deadline,
    check_queue,
    deadline_from,
)
from gateway.api.ports import InferenceBackend, InferenceOutput
from gateway.api.shared_tensors import (
    check_shared_request,
    names_shared_memory,
    read_inputs,
    shared_input_bytes,
    shared_output_bytes,
    write_outputs,
)
from gateway.api.tensors import (
    InferRequest,
    InferResponse,
    check_against_model,
    encode_infer_response,
    json_output_values,
    parse_infer_request,
)
from gateway.domain import ModelRef, ModelState, ModelVersionStatus, ascii_integer
from gateway.errors import DeadlineExceededError, InvalidInputError, ModelNotFoundError

CHECKED_STATES = frozenset({ModelState.READY, ModelState.LOADING, ModelState.UNLOADED})
"""States whose status lists the tensors the version takes (from model.yaml until it is loaded)."""


@dataclass(frozen=True, slots=True)
class InferCall:
    """A ``POST .../infer`` as its head describes it, to whichever server answers it (aiohttp's
    handler above, or the front door's own for admitted binary requests: door_infer.py)."""

    name: str
    version: int | None
    header_length: str | None
    """``Inference-Header-Content-Length`` as sent (None: a pure JSON body)."""
    deadline_header: str | None
    """``X-Request-Timeout-Ms`` as sent."""
    started: float
    """``time.monotonic()`` when the head was read."""
    remote: str | None
    """The client's address: only one on this host may name shared memory."""

    @property
    def json_size(self) -> int | None:
        header_length = self.header_length
        return None if header_length is None else ascii_integer(header_length)


async def answer_infer(
    context: ApiContext, executor: Executor, call: InferCall, body: memoryview, holder: object
) -> InferResponse:
    """Parse, check, queue and await one inference request whose body has arrived, and encode its
    answer; raises the errors ``middlewares.error_answer`` maps. ``holder`` holds the request's
    admission reservation, released once it is queued (or failed)."""
    loop = asyncio.get_running_loop()
    json_size = call.json_size
    # Only JSON text is slow to parse; binary tensors are read in place whatever their size, and a
    # hop to the thread pool costs more than that (measured: ~0.3 ms of hand-offs per request).
    if (json_size if json_size is not None else len(body)) > OFFLOAD_BYTES:
        parsed = await loop.run_in_executor(executor, parse_infer_request, body, call.header_length)
    else:
        parsed = parse_infer_request(body, call.header_length)
    if names_shared_memory(parsed):
        check_shared_request(parsed, call.remote, context.regions)
    if parsed.shared_inputs:
        check_queue(context)  # a request about to be refused copies nothing
        # A copy out of the client's region, on the loop while it is cheaper than a hop would be.
        limit = context.max_body_bytes
        if shared_input_bytes(parsed) > OFFLOAD_COPY_BYTES:
            parsed = await loop.run_in_executor(executor, read_inputs, parsed, context.regions, limit)
        else:
            parsed = read_inputs(parsed, context.regions, limit)
    deadline = deadline_from(call.deadline_header, call.started)
    status = context.backend.status(call.name, call.version)
    if status.state in CHECKED_STATES:
        # A version that loads on demand (or is loading) is checked against its model.yaml, which
        # declares what the loaded version takes: a bad request must not cost a model load. A failed
        # version may not know its tensors; the backend says why it is not ready.
        check_against_routed(parsed, context.backend, call, status)
    check_deadline(deadline)
    check_queue(context)
    # Triton's ``timeout`` bounds the time in the queue from there, not the request: one that has
    # started runs to its end (X-Request-Timeout-Ms, this server's own, bounds the whole request).
    queued_by = None if parsed.timeout_s is None else time.monotonic() + parsed.timeout_s
    submitted = context.backend.infer(call.name, call.version, parsed.inputs, deadline, queued_by)
    context.queue.release(holder)  # queued now, and counted there
    result = await _result(submitted, deadline, queued_by)
    check_outputs_of(parsed, result.model, result.outputs)
    if any(wanted.shared is not None for wanted in parsed.outputs or ()):
        if shared_output_bytes(parsed, result.outputs) > OFFLOAD_COPY_BYTES:
            await loop.run_in_executor(executor, write_outputs, parsed, result.outputs, context.regions)
        else:
            write_outputs(parsed, result.outputs, context.regions)

    def encode() -> InferResponse:
        return encode_infer_response(
            model_name=result.model.name,
            model_version=result.model.version,
            request=parsed,
            outputs=result.outputs,
            labels=result.labels,
        )

    if json_output_values(parsed, result.outputs) > OFFLOAD_VALUES:
        return await loop.run_in_executor(executor, encode)
    return encode()


async def _result(
    submitted: Future[InferenceOutput], deadline: float | None, queued_by: float | None
) -> InferenceOutput:
    """``context.wait_result``, and DeadlineExceededError when ``queued_by`` passes with the request
    still in the queue (a worker that took it has set it running, which cannot be cancelled)."""
    waiter = asyncio.wrap_future(submitted)
    try:
        if queued_by is not None and (deadline is None or queued_by < deadline):
            await asyncio.wait((waiter,), timeout=max(queued_by - time.monotonic(), 0.0))
            if not waiter.done() and submitted.cancel():
                raise DeadlineExceededError("the request's timeout passed while it waited in the queue")
        if deadline is None:
            return await waiter
        return await asyncio.wait_for(waiter, max(deadline - time.monotonic() + RUNNING_GRACE_S, 0.0))
    except asyncio.TimeoutError as exc:
        submitted.cancel()
        raise DeadlineExceededError("the request's deadline passed before its result was ready") from exc
    finally:
        if not waiter.done():  # the handler was cancelled, or the request left the queue unrun
            waiter.cancel()


def check_against_routed(
    parsed: InferRequest, backend: InferenceBackend, call: InferCall, status: ModelVersionStatus
) -> None:
    """``check_against_model`` against the version ``status`` describes, or for a request without a
    version, also its model's canary: the request is routed after this check, and a canary whose
    tensors differ from the default version's serves what it takes. The backend checks the inputs
    again against the version it draws, and ``check_outputs_of`` the outputs."""
    try:
        check_against_model(parsed, status)
    except InvalidInputError:
        canary = None if call.version is not None else _canary_status(backend, call.name, status.version)
        if canary is None or not _takes(parsed, canary):
            raise  # the default version's refusal: what most of the model's traffic gets


def _takes(parsed: InferRequest, status: ModelVersionStatus) -> bool:
    try:
        check_against_model(parsed, status)
    except InvalidInputError:
        return False
    return True


def check_outputs_of(parsed: InferRequest, ref: ModelRef, outputs: Mapping[str, object]) -> None:
    """InvalidInputError for an output asked for that the version which served the request does not
    give (an unpinned request may have been served by the canary)."""
    for requested in parsed.outputs or ():
        if requested.name not in outputs:
            raise InvalidInputError(
                f"model {ref} has no output {requested.name!r}; outputs: {sorted(outputs)}"
            )


def _canary_status(backend: InferenceBackend, name: str, default_version: int) -> ModelVersionStatus | None:
    """The status of the model's canary while it takes a share of unpinned requests, else None."""
    routing = backend.routing(name)
    version = routing.canary_version
    if version is None or version == default_version or routing.canary_weight <= 0:
        return None
    try:
        canary = backend.status(name, version)
    except ModelNotFoundError:  # routing names a version the repository does not have: never drawn
        return None
    # Only a loaded canary is drawn (routing.choose_version); the default serves its share until then.
    return canary if canary.state is ModelState.READY else None
