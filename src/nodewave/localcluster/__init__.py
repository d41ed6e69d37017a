"""A local Kubernetes control plane from the real binaries, for tests, benchmarks and the demo.

There is no container engine on our machines, so `kind` cannot run; instead, like
controller-runtime's envtest, we start etcd, kube-apiserver, kube-controller-manager and
kube-scheduler as local processes on loopback, and kwok to play the kubelet of fake nodes.
Nothing here is a mock: it is the same API server, admission, CEL, garbage collector and
DaemonSet controller a production cluster runs.
"""

from nodewave.localcluster.controlplane import ControlPlane, find_binaries

__all__ = ["ControlPlane", "find_binaries"]
