"""The pure functional core: types, checks, rules, schedules, batching, losses, models."""
