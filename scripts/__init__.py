"""Scripts: the demo and what it shares with the tests."""
