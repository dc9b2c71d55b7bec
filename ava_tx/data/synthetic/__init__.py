"""Synthetic AVA-format dataset: simulated people, rendered with numpy, labelled by fixed rules.

See docs/SYNTHETIC_DATA.md for the generative rules and class statistics.
"""
