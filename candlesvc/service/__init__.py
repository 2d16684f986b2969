"""The HTTP service: the Flask app, its endpoints and what guards them."""
