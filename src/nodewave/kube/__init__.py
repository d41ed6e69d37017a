"""The only code that talks to the Kubernetes API: read snapshots, apply plans idempotently,
turn API errors into ours."""
