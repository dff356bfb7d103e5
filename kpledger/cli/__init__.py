"""The ``kpledger`` command line: thin Typer commands over the library.

Entry point: :func:`kpledger.cli.app.main` (console script ``kpledger``), or
``python -m kpledger.cli``.
"""
