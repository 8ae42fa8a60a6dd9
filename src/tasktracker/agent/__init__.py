"""The SOA agent: consumes events from the broker and sends letters (welcome, password reset,
task alerts), exactly one per event, and notifications of task changes, coalesced per person
and task (agent/notifier.py)."""
