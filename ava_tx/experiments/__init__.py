"""Experiments that train and evaluate several configurations and tabulate them."""
