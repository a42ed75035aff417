"""The blocking shell: the clients, DataStore and file downloads on requests, the bounded worker loop, and
a connection opened ahead of the first request (``preconnect``, standard library only)."""
