"""The device side of alert delivery: the durable signed outbox and the MQTT publisher."""
