"""Serving: what a long-running service holds in memory, one question per module.

- `champions` - which model versions are served: `ServingModels` loads each champion once, swaps
  it when the alias moves, watches the alias in a thread and says why a model is degraded.
- `fast` - how a served model scores: `ServedModel` (booster, feature index) on numpy matrices,
  small batches on one thread, big ones in overlapping TreeSHAP chunks.
- `render` - how explanations read: `explained` (JSON-ready results with top-k factors) and
  `render_factors` (stored factors in the reader's language).
- `snapshot` - what the store holds: `DatasetCache`, a versioned snapshot of the store and the
  frames derived from it, updated in place by this process's writes or, with several workers, by
  following the store's change feed.
"""
