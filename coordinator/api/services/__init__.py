"""The API's decisions, apart from its routes: each service raises `coordinator.api.errors`
domain errors that carry their status, and the routes only translate HTTP to calls and back."""
