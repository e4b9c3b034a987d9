"""The cloud side: the audit-log subscriber, its store (SQLite or PostgreSQL), replay requests and
verification. Never imports the device side (delivery/, ingest/, inference/) or the pipeline."""
