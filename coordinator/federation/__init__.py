"""The coordinator's federated side: referee each round's updates on chain, and run Flower."""
