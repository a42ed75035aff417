"""The async shell: httpx clients running the same operations as the blocking ones. Importing it loads no requests."""
