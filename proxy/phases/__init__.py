"""Migration phases per table: the pure phase model (model.py) and cutover evidence, the control
store that holds them (a file or a DynamoDB table), the watcher that applies its changes, the
fleet's heartbeats, the control every sidecar runs and the `phase` command line."""
