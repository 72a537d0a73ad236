"""The headless engine: streaming inference on LiteRT and what the app and `app.analyze` build on it
(file analysis, trajectories, categories, gating, calibration, the bundled default model and sample clips).
It imports neither TensorFlow nor Qt."""
