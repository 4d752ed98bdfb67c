"""The commands of ``resolutionflow``, one module per area."""
