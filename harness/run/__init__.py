"""The application layer: running models with defenses (runs, lm-eval)."""
