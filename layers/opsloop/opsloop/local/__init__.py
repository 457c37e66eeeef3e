"""Local stand-ins for the cloud services, so the whole lifecycle runs without an account."""
