"""The work behind each CLI command (shells over the library)."""
