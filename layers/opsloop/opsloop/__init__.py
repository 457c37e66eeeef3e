"""opsloop: the shared library behind every opsloop Lambda function and the offline run."""

__version__ = "0.1.0"
