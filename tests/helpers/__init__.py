"""Importable test helpers (data writers, tiny datasets, plan documents): `from helpers.<module> import ...`.

`tests/` is on the import path through pytest's `pythonpath` option (pyproject.toml), so every test
imports these the same way wherever it sits.
"""
