"""Why a connection to an mqtts:// broker fails: one TLS handshake of our own, with the client's TLS
files, since paho reports a failed connect without its cause.

paho raises the ``ssl`` error inside its network loop and hands ``on_connect_fail`` nothing, so a
broker certificate from another CA than ``mqtt.ca_file``, one for another host name, or one that
expired would all read as "cannot connect". ``tls_failure`` connects once more the way paho does
(``ssl.PROTOCOL_TLS_CLIENT``: certificate and host name required; ``mqtt.ca_file`` or the system's
CAs; the client certificate if set) and says what refused it. Only the handshake: nothing MQTT is
sent, and the connection is closed at once.

Shared by the gateway's publisher (``gateway.delivery.mqtt``) and the audit subscriber
(``gateway.audit.subscriber``): both call ``ConnectFailures.failed`` from ``on_connect_fail`` and
log each distinct error once until a connect succeeds.
"""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass
from pathlib import Path

from gateway.protocol.mqtt_link import BrokerAddress

PROBE_TIMEOUT_S = 5.0
"""How long the handshake may take, TCP connect included (paho's own connect timeout)."""

_UNTRUSTED = frozenset({2, 18, 19, 20, 21})
"""OpenSSL verify codes of a chain that does not lead to a trusted CA: unable to get issuer
certificate, self-signed leaf, self-signed certificate in the chain, unable to get local issuer
certificate, unable to verify the leaf signature."""
_WRONG_HOST = frozenset({62, 64})
"""Host name mismatch, IP address mismatch."""
_DATES = frozenset({9, 10})
"""Certificate not yet valid, certificate has expired."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientTls:
    """The files a client's TLS uses: ``mqtt.ca_file`` (None: the system's CAs) and its own
    certificate and key (``mqtt.cert_file``, ``mqtt.key_file``), if any."""

    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None


def tls_context(files: ClientTls) -> ssl.SSLContext:
    """A client context verifying as paho's ``tls_set(..., cert_reqs=CERT_REQUIRED)`` does."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if files.ca_file is not None:
        context.load_verify_locations(str(files.ca_file))
    else:
        context.load_default_certs()
    if files.cert_file is not None:
        context.load_cert_chain(
            str(files.cert_file), str(files.key_file) if files.key_file is not None else None
        )
    return context


def tls_failure(address: BrokerAddress, files: ClientTls, timeout_s: float = PROBE_TIMEOUT_S) -> str | None:
    """What stops a TLS connection to ``address``, in words, or None: the handshake succeeds (the
    failure was elsewhere, or passed), or ``address`` is not mqtts://."""
    if not address.tls:
        return None
    try:
        context = tls_context(files)
    except (OSError, ValueError) as exc:
        return f"mqtt TLS files: {exc}"
    try:
        with (
            socket.create_connection((address.host, address.port), timeout=timeout_s) as raw,
            context.wrap_socket(raw, server_hostname=address.host),
        ):
            return None
    except ssl.SSLCertVerificationError as exc:
        return describe_verify_error(exc, files, address)
    except ssl.SSLError as exc:
        return f"TLS handshake failed: {exc.reason or exc}"
    except TimeoutError:
        return f"no answer within {timeout_s:g} s"
    except OSError as exc:
        return exc.strerror or str(exc)


def describe_verify_error(exc: ssl.SSLCertVerificationError, files: ClientTls, address: BrokerAddress) -> str:
    """The broker's certificate was refused: OpenSSL's reason and what to check."""
    reason = exc.verify_message or exc.reason or str(exc)
    trusted = f"mqtt.ca_file {files.ca_file}" if files.ca_file is not None else "the system's CAs"
    if exc.verify_code in _UNTRUSTED:
        hint = f"the broker's certificate is not signed by a CA in {trusted}"
    elif exc.verify_code in _WRONG_HOST:
        hint = f"the broker's certificate does not name {address.host}, the host in mqtt.url"
    elif exc.verify_code in _DATES:
        hint = "check the broker certificate's dates and this machine's clock"
    else:
        hint = f"checked against {trusted}"
    return f"TLS certificate verify failed: {reason} ({hint})"


class ConnectFailures:
    """The error of each failed connect to one broker, its TLS cause named when there is one, and
    whether to log it: once per distinct error until a connect succeeds, even when two alternate.

    Used from paho's network thread only (``on_connect_fail`` and ``on_connect``).
    """

    def __init__(self, address: BrokerAddress, files: ClientTls) -> None:
        self._address = address
        self._files = files
        self._logged: set[str] = set()

    def failed(self, *, probe: bool = True) -> tuple[str, bool]:
        """This failure's error, and True when it is the first of its kind since the last connect.
        ``probe`` False (stopping) skips the handshake."""
        cause = tls_failure(self._address, self._files) if probe else None
        if cause is None:
            error = f"cannot connect to {self._address} (unreachable, TLS failure or down)"
        else:
            error = f"cannot connect to {self._address}: {cause}"
        first = error not in self._logged
        self._logged.add(error)
        return error, first

    def connected(self) -> None:
        """A connect succeeded: the next failure of any kind is logged again."""
        self._logged.clear()
