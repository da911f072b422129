"""The project's own types and words: domain values, errors, ports, reply texts. Standard library only."""
