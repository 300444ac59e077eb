"""The event-sourced domain: the Generation aggregate, its events and guards, and the application."""
