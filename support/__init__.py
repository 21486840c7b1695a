"""What the tests, the demo and the benchmarks share (nothing imports `tests/`).

`support.twins` holds in-process twins of the chain and the content store for the parts the
referee uses, for benchmarks that call the real referee thousands of times.
"""
