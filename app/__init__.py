"""The desktop app (`python -m app`, Qt) and `python -m app.analyze`, both on the headless `app.engine`."""
