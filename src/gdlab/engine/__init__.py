"""The compiled training engine: one program per epoch, reused across epochs and runs."""
