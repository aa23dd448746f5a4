"""The face pipeline: decode → detect → align (→ embed). The only code that touches pixels."""
