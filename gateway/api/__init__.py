"""aiohttp API: Open Inference Protocol v2, cameras, events, metrics, health, admission control."""
