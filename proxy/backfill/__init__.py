"""History copy (`backfill`) and proof of equality (`validate`) between Cassandra and DynamoDB.

Both split the token ring into ranges (ranges.py), scan each range from a replica that owns it
(source.py), turn every row and its write timestamps into last-write-wins mutations (rows.py) and
apply or compare them (writer.py, validate.py). A ledger (ledger.py) makes runs resumable; the same
range tasks run in this process, in worker processes (workers.py) or as a PySpark job
(spark_job.py).
"""
