"""Refusal-direction steering (Arditi et al. 2024 / static refusal-vector addition; docs/reference.md, ReGap §14.1 and
14.3): add alpha times a difference-of-means refusal direction at chosen layers and positions."""
