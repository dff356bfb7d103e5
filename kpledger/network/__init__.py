"""A consortium network on this machine: go-ethereum 1.13.15 validators sealing Clique
(EIP-225) proof-of-authority blocks, the closest engine to the production Besu/QBFT network
that can be built here, plus the Besu/QBFT configuration kit.

- :mod:`kpledger.network.genesis` decides the Clique genesis (pure).
- :mod:`kpledger.network.geth` finds the binary and runs one validator process.
- :mod:`kpledger.network.cluster` creates, starts, stops, kills and partitions a network
  and writes its ``network.json``.
"""
