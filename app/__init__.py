"""Streaming inference on LiteRT, without TensorFlow: `app.streaming`, `app.analyze`."""
