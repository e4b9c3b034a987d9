"""Model repository, engines, dynamic batcher and bounded worker pool."""
