"""Tests of the service as deployed: the wheel, gunicorn, the image."""
