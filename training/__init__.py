"""Command-line entry points: `python -m training.<command>`."""
