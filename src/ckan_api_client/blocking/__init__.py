"""The blocking shell: the clients, DataStore and file downloads on requests, and the bounded worker loop."""
