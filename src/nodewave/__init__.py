"""nodewave: run a workload on every node a selector picks and roll new versions out safely."""

GROUP = "nodewave.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
__version__ = "0.1.0"

__all__ = ["API_VERSION", "GROUP", "VERSION", "__version__"]
