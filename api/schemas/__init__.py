"""Request and response models of the HTTP API (separate from perfml's internal types)."""
