"""Pure decisions: snapshot + clock in, actions out. No I/O, no kopf, no Kubernetes client."""
