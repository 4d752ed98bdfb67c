"""The HTTP API: in process (AsyncTestClient) and against the real server process."""
