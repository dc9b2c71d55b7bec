"""Interfaces, standard field names, AVA constants and box/shape helpers (no layers here)."""
