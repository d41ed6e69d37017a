"""One execution on one node: what its pod says (observe), its health windows, the pod it gets, the node's cordon and drain around it."""
