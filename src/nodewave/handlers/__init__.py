"""Thin kopf handlers: watch events become "reconcile this Job"; nothing else happens here."""
