"""Spotting expressions in long videos and scoring them as MEGC does.

- :mod:`.metric`: inclusive-frame IoU, the three matching rules in use, TP/FP/FN pooled over
  every video (those without ground truth included), P/R/F1 per type, per dataset, overall and
  combined, and the spot-then-recognise score (STRS);
- :mod:`.features`, :mod:`.classical`: the training-free spotter (``merprep spot``);
- :mod:`.run`: spotting every video of a long-video store, locally or one video per Ray task.

See docs/spotting.md.
"""
