"""The agent console: accounts and login, the queue and handoff pages, emotion flags, the web chat page."""
