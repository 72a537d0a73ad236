"""The repository's assets, importable as `keras_cpc_assets` (pyproject.toml maps the name here): the wheel
carries the default model, its card and the sample clips the app offers, and `importlib.resources` finds them
in an installed wheel and in an editable checkout alike (`app.engine.bundled`)."""
