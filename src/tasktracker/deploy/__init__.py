"""Deployment: the nginx configuration and the local production stack (`make stack`)."""
