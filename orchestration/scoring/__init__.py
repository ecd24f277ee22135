"""Account scoring: configuration, validation and what-if runs (issue 4)."""
