"""Host steps: one Step shape, and the Docker CE sequence as an explicit tuple."""
