"""One router per resource; each module exposes `router` (prefix and tags set there)."""
