"""What the three processes share: the handoff payload and audit-entry contracts, identities and
conversation ids, client addresses, phone numbers, masking and the Twilio HTTP layer.

Dependency-free within Attune: nothing here imports the rest of ``handoff``, ``bot`` or ``actions``,
so the Rasa server and the action server may import it without taking in the service.
"""
