"""perfml's HTTP service: a thin FastAPI layer over the `perfml` Python API (see ARCHITECTURE.md).

`api.main.create_app(home=None)` builds the app over one `perfml.home.Home`; `perfml serve` runs it under uvicorn.
"""
