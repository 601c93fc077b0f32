"""Loyalty: programs, the points ledger, earning rules, expiry, rewards and tiers."""
