"""Reliability under faults: real servers, real databases, on loopback only."""
