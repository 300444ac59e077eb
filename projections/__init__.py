"""Read models kept from the event log exactly once, and rebuildable from zero."""
