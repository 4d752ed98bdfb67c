"""The resolutionflow command line."""
