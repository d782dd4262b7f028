"""merprep: read micro-expression datasets as they ship and write versioned HDF5 clip stores."""

__version__ = "0.1.0"
