"""Factory floor productivity: AI camera events in, trustworthy productivity metrics out."""
