"""Desktop app and streaming inference (LiteRT, without TensorFlow): not built yet."""
