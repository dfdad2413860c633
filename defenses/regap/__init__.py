"""ReGap (docs/reference.md, ReGap), a labelled reconstruction: geometry (directions, anchors, drift), the
self-rectification probe, tau calibration, the optional grid search and the registered defenses."""
