"""The mapped write path: the dual write and its DynamoDB-primary variant, the translated DynamoDB
writes, the bounded write queue with its journal and dead letters, and items too large for DynamoDB
kept in S3."""
