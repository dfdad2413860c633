"""Representation toolkit shared by the steering defenses and the analyses: hidden-state collection,
difference-of-means refusal directions, the golden refusal vector, modality drift, CRS, calibration artifacts."""
