"""One module per group of CLI commands; each parses options and calls one library function."""
