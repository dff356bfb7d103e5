"""Test suite for kpledger (a package, so that ``tests.strategies`` wins over a stray
top-level ``tests`` package installed by slither-analyzer into site-packages)."""
