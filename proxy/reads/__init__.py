"""The mapped read path: where a read is served from, the DynamoDB reader that answers it as a CQL
result, and read repair of what Cassandra had that DynamoDB lacked."""
