"""Patron: self-hosted customer relationship platform for online shops."""
