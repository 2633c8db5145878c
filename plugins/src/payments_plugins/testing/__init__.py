"""Test helpers for the payments platform and for gateway plugin authors."""
