"""The application: settings, the one bootstrap that wires actors to adapters, the CLI and its commands."""
