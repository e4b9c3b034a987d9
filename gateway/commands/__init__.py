"""One module per ``edge-gateway`` subcommand, each with ``register(subparsers)`` and a handler.

A command module may import any part of the gateway; argument parsing stays in these modules and
``gateway.cli``, and only ``gateway.cli`` configures logging.
"""
