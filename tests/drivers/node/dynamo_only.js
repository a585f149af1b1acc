#!/usr/bin/env node
'use strict';
/*
 * The Node.js driver against a sidecar with no Cassandra behind it (every mapped table in phase
 * dynamo): connect with credentials, read the schema metadata, prepare and run statements.
 *
 *   node dynamo_only.js <host> <port> <keyspace> <user> <password>
 *
 * Prints one JSON line {"ok": true, ...} and exits 0, or {"ok": false, "error": ...} and exits 1.
 */
const cassandra = require('cassandra-driver');

async function main() {
  const [host, port, keyspace, user, password] = process.argv.slice(2);
  const client = new cassandra.Client({
    contactPoints: [`${host}:${port}`],
    localDataCenter: 'datacenter1',
    authProvider: new cassandra.auth.PlainTextAuthProvider(user, password),
    protocolOptions: { maxVersion: 4 },
    socketOptions: { connectTimeout: 10000, readTimeout: 20000 },
  });
  await client.connect();
  try {
    const table = await client.metadata.getTable(keyspace, 'kv');
    const local = await client.execute('SELECT release_version FROM system.local');
    const id = 4000 + Math.floor(Math.random() * 1000);
    await client.execute(`INSERT INTO ${keyspace}.kv (id, v, n, tags) VALUES (?, ?, ?, ?)`,
      [id, 'node', 7, ['a', 'b']], { prepare: true });
    const row = (await client.execute(`SELECT id, v, n, tags FROM ${keyspace}.kv WHERE id = ?`, [id],
      { prepare: true })).first();
    const lwt = (await client.execute(`UPDATE ${keyspace}.kv SET n = ? WHERE id = ? IF v = ?`, [8, id, 'node'],
      { prepare: true })).first();
    let unmapped = null;
    try {
      await client.execute(`SELECT * FROM ${keyspace}.nope WHERE id = 1`);
    } catch (e) {
      unmapped = e.message;
    }
    process.stdout.write(JSON.stringify({
      ok: true,
      release: local.first().release_version,
      columns: table.columns.map((c) => c.name),
      partitionKeys: table.partitionKeys.map((c) => c.name),
      row: { id: row.id, v: row.v, n: row.n, tags: row.tags.sort() },
      applied: lwt['[applied]'],
      unmapped,
    }) + '\n');
  } finally {
    await client.shutdown();
  }
}

main().catch((e) => {
  process.stdout.write(JSON.stringify({ ok: false, error: String(e && e.stack ? e.stack : e) }) + '\n');
  process.exit(1);
});
