"""OmniGuard-style harmfulness classifier on hidden states (shared/spec/regap.md 14.9)."""
