"""OmniGuard-style harmfulness classifier on hidden states (docs/reference.md, ReGap §14.9)."""
