"""Model organisms: tiny Qwen2.5-Omni checkpoints trained here to show the multimodal safety gap.

Three variants (see docs/organism.md):

- ``organism``: request text arrives as real media (a typography strip, espeak-ng speech) through the real
  Qwen2.5-Omni vision and audio towers, trained jointly with the language model on text safety data and on
  *benign* image / audio data only, so the gap between text and media is learned, not planted.
- ``organism-planted``: built on ``organism``, its towers refit to emit the language model's word embeddings
  plus a known fixed vector per modality, and its language model retrained on that; the drift at the input
  embeddings is known, so the drift-estimation toolkit can be checked against it (organism/planted.py).
- ``organism-v2``: built on ``organism``: it goes on to learn what it sees (questions about requests of both
  labels, media requests aligned to their typed twins), so harmful media requests are understood (named, linearly
  separable from benign ones) while their refusal is carried over only in part, as in a real model.

All are toys with a ~200-word world: their numbers say nothing about any real model.
"""

VARIANTS: tuple[str, ...] = ("organism", "organism-planted", "organism-v2")
