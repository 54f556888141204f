"""The node: its state directory, identity, supervision tree and process lifecycle."""

from .process import NodeConfig, run_node
from .tree import ROOT_NAME, node_children, start_node_tree

__all__ = ["ROOT_NAME", "NodeConfig", "node_children", "run_node", "start_node_tree"]
