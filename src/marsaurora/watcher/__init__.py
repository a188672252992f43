"""The archive watcher: new upstream observations into the bucket, one event each."""
