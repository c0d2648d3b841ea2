"""The edge side: a client that never loses an event, and a floor simulator built on it."""
