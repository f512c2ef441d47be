"""The use cases, one module each: what the API routes and the `perfml` commands call.

Every function takes keyword-only arguments and the `perfml.home.Home` it works on; a route or a
command parses its input, calls one of these and renders the answer. Below this layer nothing reads
process-wide settings or the environment.

- `scoring` - units by id from the store snapshot, a whole dataset, feature rows by the baseline rule.
- `alerts` - refresh alerts from the champions and the rules; record a review.
- `kpi` - evaluate a plan, what-if, explain one result; the crediting inputs from the store.
- `ingest` - a batch of records into the store (and the service's snapshot); a dataset import.
- `models` - train pipelines; registered versions; reload the served champions.
- `fairness` - the bias audit of a champion.
"""
