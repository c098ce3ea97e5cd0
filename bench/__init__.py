"""Benchmarks for signal-dest-cio: `python -m bench` (see the README's Benchmarks section)."""
