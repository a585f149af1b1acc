"""The cluster and schema drivers see: system.local and system.peers rewritten to the sidecar
topology (topology.py), the synthetic system_schema served for DynamoDB-only tables, and the
interception of system queries and events on the request path."""
