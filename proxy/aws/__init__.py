"""Talking to AWS: endpoint and region resolution, signing, the pooled HTTP connections, the shared
retry loop, and the DynamoDB and S3 clients on top of it."""
