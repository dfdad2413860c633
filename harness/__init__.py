"""omni-safety harness: benchmark and leaderboard for inference-time safety defenses of omni-modal LLMs."""

__version__ = "0.1.0"
