"""What the coordinator and the worker share: the content store, task manifests, the models a
manifest may choose, how updates are encoded, validated and aggregated, and the demo's data."""
