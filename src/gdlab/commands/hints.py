"""Command lines printed for the user to copy: they name the database unless it is the default one
(the store writes the same lines into its records' reasons)."""

from __future__ import annotations

from gdlab.store.hints import DEFAULT_DB, gdlab, resume_sweep

__all__ = ["DEFAULT_DB", "gdlab", "resume_sweep"]
