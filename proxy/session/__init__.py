"""One client connection end to end: the handshake (a pure state machine and its executor), the
session that owns the client socket, its upstream Cassandra connection and pool, stream ids,
timeouts, the stand-alone answers when Cassandra is gone, and the dispatch from a routing decision
to its handler."""
