"""Spec logic, pure and synchronous where it can be; knows nothing of the web framework or storage."""
