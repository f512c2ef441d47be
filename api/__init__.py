"""perfml's HTTP service: a thin FastAPI layer over the `perfml` Python API (see ARCHITECTURE.md).

`api.main.create_app(settings=None)` builds the app; `perfml serve` runs it under uvicorn.
"""
