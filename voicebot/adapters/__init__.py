"""One module (or package) per outside library, each the only place that imports it."""
