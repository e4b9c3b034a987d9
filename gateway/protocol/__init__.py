"""The wire contract both sides share: the alert codec (canonical JSON, hash chain, signature) and
the MQTT connection set-up. Imports only domain, errors and config, so device and cloud code can."""
