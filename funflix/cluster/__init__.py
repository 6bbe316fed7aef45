"""A real single-node Kubernetes on this machine: binaries, lifecycle, images (see docs/kubernetes.md)."""
