"""What people read: `kubectl nodewave plan`'s preview, the dashboard's node map, the CI gate's verdict."""
