"""The HTTP app: REST API, health and metrics, and the channels' own routes."""
