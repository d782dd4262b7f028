"""Spotting with trained models: recognition of spotted micro-expressions (``mertrain
analyze``, the STR score of ``mertrain spot-eval``). See docs/spotting.md."""
