"""The one exception tree of the gateway.

Third-party failures (cv2, onnxruntime, paho, sqlite, psycopg) are wrapped at the boundary with
``raise SomeGatewayError(...) from exc`` so callers handle our types only::

    GatewayError
    ├── ConfigError                 bad config file or value; carries every problem with file:line
    ├── ModelError
    │   ├── ModelNotFoundError      unknown model name or version           -> HTTP 404
    │   ├── ModelNotReadyError      loading, failed or unloaded             -> HTTP 503 / 400
    │   └── ModelLoadError          broken model file, bad model.yaml
    ├── InferenceError
    │   ├── InvalidInputError       wrong name, shape, dtype or byte length -> HTTP 400
    │   ├── OverloadedError         queue above its watermark or full       -> HTTP 503 + Retry-After
    │   └── DeadlineExceededError   expired before it ran                   -> HTTP 504
    ├── SourceError                 a camera could not be opened or read
    ├── DeliveryError
    │   ├── OutboxError             the durable outbox could not commit or read -> HTTP 503
    │   │   └── OutboxUnavailableError  a read refused for a passing cause (locked, I/O error)
    │   ├── EvidenceError           a frame could not be encoded as evidence (the alert goes without)
    │   └── BrokerError             MQTT connect/auth/publish failure
    └── AuditError                  audit store or verification failure
"""

from __future__ import annotations

from dataclasses import dataclass


class GatewayError(Exception):
    """Base of every error the gateway raises on purpose."""


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    file: str
    line: int | None
    path: str
    """Dotted key path, e.g. ``cameras[0].rules[1].min_score``."""
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class ConfigError(GatewayError):
    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(problem) for problem in problems))


class ModelError(GatewayError):
    pass


class ModelNotFoundError(ModelError):
    pass


class ModelNotReadyError(ModelError):
    pass


class ModelLoadError(ModelError):
    pass


class InferenceError(GatewayError):
    pass


class InvalidInputError(InferenceError):
    pass


class OverloadedError(InferenceError):
    def __init__(self, message: str, retry_after_s: float = 1.0) -> None:
        self.retry_after_s = retry_after_s
        super().__init__(message)


class DeadlineExceededError(InferenceError):
    pass


class SourceError(GatewayError):
    pass


class DeliveryError(GatewayError):
    pass


class OutboxError(DeliveryError):
    pass


class OutboxUnavailableError(OutboxError):
    """A read SQLite refused for a cause outside the file's content (locked by another process, a disk
    I/O error, out of memory): the same read may succeed later. Every other read error (a malformed
    page, no database, a table gone, a damaged row) says the file is damaged, which lasts."""


class EvidenceError(DeliveryError):
    pass


class BrokerError(DeliveryError):
    pass


class AuditError(GatewayError):
    pass
