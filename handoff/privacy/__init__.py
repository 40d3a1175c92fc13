"""Customers and their data: linked identities, consent, who sees what, export, erasure, retention."""
