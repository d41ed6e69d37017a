#!/usr/bin/env bash
# The Kubernetes binaries of the local control plane: the script ships in the package
# (src/nodewave/localcluster/binaries/build.sh), so `pip install nodewave` builds them too.
exec bash "$(dirname "$0")/../src/nodewave/localcluster/binaries/build.sh" "$@"
