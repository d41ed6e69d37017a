"""nodewave: run a workload on every node a selector picks and roll new versions out safely."""

from importlib.metadata import PackageNotFoundError, version

GROUP = "nodewave.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
try:  # the package's version, which its build took from the git tag (pyproject.toml)
    __version__ = version("nodewave")
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["API_VERSION", "GROUP", "VERSION", "__version__"]
