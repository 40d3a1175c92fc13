"""The handoff queue: handoffs in from the action server, waits, webhooks out, and the Rasa client."""
