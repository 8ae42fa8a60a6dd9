"""The HTTP API: Flask app factory, blueprints, security and error handling."""
