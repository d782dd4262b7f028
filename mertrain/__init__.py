"""mertrain: train and evaluate micro-expression models on merprep clip stores, honestly."""

__version__ = "0.1.0"
