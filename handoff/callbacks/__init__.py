"""Phone call-backs: durable call jobs, the runner that places them over Twilio, Twilio's webhooks."""
