"""The worker daemon: claims tasks on chain, trains on local data in Flower rounds."""
