"""The payments gateway platform: REST API, routing chain, storage and workers."""
