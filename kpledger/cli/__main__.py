"""``python -m kpledger.cli``: the same as the ``kpledger`` console script."""

from kpledger.cli.app import main

main()
