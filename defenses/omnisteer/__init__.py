"""OmniSteer (arXiv 2602.10161; docs/reference.md, OmniSteer §2-3): per-layer adapters that scale the golden
refusal vector by an input-dependent amount k(h), added at the last position of every forward pass.

Modules: `presets` (per-model hyperparameters), `adapter` (the d -> 128 -> 1 MLP and the hinge + L1 loss),
`features` (golden vectors and cached last-token features), `train` (the fit on cached features, sequential or
independent, with checkpoint selection on validation), `artifact` (save / load through the toolkit's checked
artifacts), `defense` (the registry entry and its inference hooks).
"""
