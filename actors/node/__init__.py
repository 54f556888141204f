"""The node: its state directory, identity, supervision tree and process lifecycle.

The actors of the tree import this package's own parts (identity, swarm_state), so this file
imports nothing: loading the package must not load the tree, or importing one of those actors
first would go round a cycle back to itself. The CLI starts a node from ``.process``.
"""
