"""Durable signed outbox, MQTT publisher and the cloud audit-log subscriber."""
