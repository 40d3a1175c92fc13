"""The audit log of automated decisions: a hash chain, its events and its console page."""
