"""Service desk: tickets, after-sales, complaints, SLA, knowledge base."""
