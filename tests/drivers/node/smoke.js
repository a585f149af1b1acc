#!/usr/bin/env node
'use strict';
/*
 * Smoke checks of the DataStax Node.js driver (npm "cassandra-driver") through the CQL sidecar.
 *
 *   node smoke.js <host> <port> [<protocol version: 3 | 4 | auto>] [lz4]
 *
 * "auto" leaves the version to the driver's own negotiation (it starts at DSE_V2 0x42 and steps down).
 * The driver has no frame compression at all (neither lz4 nor snappy), so "lz4" is refused with exit 2.
 * Protocol v5 is refused too: this driver validates protocolOptions.maxVersion against v1..v4 and DSE v1/v2.
 *
 * On success prints one JSON line {"ok": true, ...} and exits 0; on failure prints
 * {"ok": false, "stage": ..., "error": ..., "log": [...]} (the last driver log events) and exits 1.
 * CDP_NODE_VERBOSE=1 also streams every driver log event (level "verbose" and up) to stderr.
 */

const net = require('net');
const cassandra = require('cassandra-driver');

const { types } = cassandra;
const { Uuid, Long, BigDecimal, Integer } = types;

const OVERALL_TIMEOUT_MS = Number(process.env.CDP_NODE_TIMEOUT_MS || 60000);
const KEYSPACE = 'cdp_node';
const VERBOSE = ['1', 'true', 'yes'].includes(String(process.env.CDP_NODE_VERBOSE || '').toLowerCase());

const driverVersion = require('cassandra-driver/package.json').version;
const logRing = [];
let stage = 'arguments';

function out(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

function fail(err, code = 1) {
  out({
    ok: false,
    driver: driverVersion,
    stage: (err && err.stage) || stage,
    error: err && err.stack && !err.unsupported ? err.stack : String(err && err.message ? err.message : err),
    info: err && err.info ? err.info : undefined,
    innerErrors: err && err.innerErrors ? describeInnerErrors(err.innerErrors) : undefined,
    log: logRing.slice(-200),
  });
  process.exit(code);
}

function describeInnerErrors(inner) {
  const res = {};
  for (const [k, v] of Object.entries(inner)) {
    res[k] = v && v.message ? v.message : String(v);
  }
  return res;
}

function check(cond, what) {
  if (!cond) {
    throw new Error(`check failed: ${what}`);
  }
}

function onLog(level, target, message, furtherInfo) {
  const line = `${level} ${target}: ${message}${furtherInfo ? ' ' + String(furtherInfo) : ''}`;
  logRing.push(line);
  if (logRing.length > 1000) {
    logRing.splice(0, logRing.length - 1000);
  }
  if (VERBOSE) {
    process.stderr.write(line + '\n');
  }
}

function parseArgs(argv) {
  const [host, portText, versionText = '4', ...rest] = argv;
  if (!host || !portText) {
    throw new Error('usage: node smoke.js <host> <port> [3|4|auto] [lz4]');
  }
  const port = Number(portText);
  check(Number.isInteger(port) && port > 0 && port < 65536, `port ${portText} is a TCP port`);
  let version = null;
  if (versionText !== 'auto') {
    version = Number(versionText);
    if (!types.protocolVersion.isSupported(version)) {
      const err = new Error(
        `protocol version ${versionText} is not supported by cassandra-driver ${driverVersion} ` +
        '(it accepts v1..v4 and DSE v1/v2 only; there is no v5 support)');
      err.unsupported = true;
      throw err;
    }
  }
  const compression = rest.find((a) => a === 'lz4' || a === 'snappy');
  if (compression) {
    const err = new Error(
      `cassandra-driver ${driverVersion} has no frame compression (${compression} is not available)`);
    err.unsupported = true;
    throw err;
  }
  check(rest.every((a) => a === ''), `unknown arguments: ${rest.join(' ')}`);
  return { host, port, version };
}

function clientOptions(endpoint, version, extra = {}) {
  const protocolOptions = { maxSchemaAgreementWaitSeconds: 20 };
  if (version !== null) {
    protocolOptions.maxVersion = version;
  }
  return {
    contactPoints: [endpoint],
    localDataCenter: 'datacenter1',
    protocolOptions,
    socketOptions: { connectTimeout: 10000, readTimeout: 20000 },
    // one attempt per request: a retry must not hide a sidecar error
    policies: { retry: new cassandra.policies.retry.FallthroughRetryPolicy() },
    ...extra,
  };
}

// --- row model ----------------------------------------------------------------------------------

function makeRow(i) {
  return {
    id: Uuid.random(),
    name: i % 10 === 3 ? null : `name-${i}-\u00e9\u4e2d`,
    n: i % 2 ? -i * 1000 : i * 1000,
    big: Long.fromString('9007199254740993').add(i).multiply(i % 2 ? -1 : 1),
    tags: i % 10 === 5 ? null : [`t${i}`, 'b', `t${i}`],
    scores: i % 10 === 5 ? null : { a: i, [`k${i}`]: -i, z: 2147483647 },
    nums: i % 10 === 5 ? null : [i, -i - 1, 7],
    ts: new Date(1700000000000 + i * 1001),
    data: Buffer.from([i & 0xff, 0, 255, (i * 7) & 0xff]),
    flag: i % 3 === 0,
    price: BigDecimal.fromString(`${i}.${String(i * 37).padStart(4, '0')}`),
    huge: Integer.fromString(`${i % 2 ? '-' : ''}123456789012345678901234567890${i}`),
  };
}

const COLUMNS = ['id', 'name', 'n', 'big', 'tags', 'scores', 'nums', 'ts', 'data', 'flag', 'price', 'huge'];

function same(col, want, got) {
  if (want === null || want === undefined) {
    return got === null || got === undefined;
  }
  if (got === null || got === undefined) {
    return false;
  }
  switch (col) {
    case 'id':
    case 'big':
    case 'price':
    case 'huge':
      return want.equals(got);
    case 'ts':
      return got instanceof Date && want.getTime() === got.getTime();
    case 'data':
      return Buffer.isBuffer(got) && want.equals(got);
    case 'tags':
      return JSON.stringify(want) === JSON.stringify(got);
    case 'nums':
      return JSON.stringify([...new Set(want)].sort((a, b) => a - b)) === JSON.stringify([...got]);
    case 'scores': {
      const norm = (o) => JSON.stringify(Object.keys(o).sort().map((k) => [k, o[k]]));
      return norm(want) === norm(got);
    }
    default:
      return want === got;
  }
}

function show(v) {
  if (v === null || v === undefined) {
    return String(v);
  }
  if (Buffer.isBuffer(v)) {
    return v.toString('hex');
  }
  if (typeof v === 'object' && typeof v.toString === 'function' && v.toString !== Object.prototype.toString) {
    return Array.isArray(v) ? JSON.stringify(v) : v.toString();
  }
  return JSON.stringify(v);
}

function checkRow(want, got, label) {
  check(got, `${label}: row ${want.id} read back`);
  for (const col of COLUMNS) {
    check(same(col, want[col], got[col]), `${label}: ${col} of ${want.id}: wrote ${show(want[col])}, read ${show(got[col])}`);
  }
}

// --- the checks ---------------------------------------------------------------------------------

async function run({ host, port, version }) {
  const endpoint = `${host}:${port}`;
  const summary = { ok: false, driver: driverVersion, endpoint, requested: version === null ? 'auto' : version };

  stage = 'connect';
  const client = new cassandra.Client(clientOptions(endpoint, version));
  client.on('log', onLog);
  await client.connect();
  try {
    summary.protocol = client.controlConnection.protocolVersion;
    if (version !== null) {
      check(summary.protocol === version, `negotiated protocol ${summary.protocol} == requested ${version}`);
    } else {
      check(summary.protocol === types.protocolVersion.v4, `auto-negotiated protocol ${summary.protocol} == 4`);
    }

    stage = 'hosts';
    const hostKeys = client.hosts.keys();
    summary.hosts = hostKeys;
    check(hostKeys.length === 1 && hostKeys[0] === endpoint,
      `client.hosts lists only the sidecar ${endpoint}: ${JSON.stringify(hostKeys)}`);
    const h = client.hosts.get(endpoint);
    summary.datacenter = h.datacenter;
    summary.cassandraVersion = h.cassandraVersion;
    check(h.datacenter === 'datacenter1', `host datacenter ${h.datacenter} == datacenter1`);
    check(h.isUp(), 'sidecar host is up');
    const local = (await client.execute('SELECT rpc_address, release_version FROM system.local')).first();
    check(local && (!net.isIP(host) || local.rpc_address.toString() === host),
      `system.local rpc_address ${local && local.rpc_address} == ${host}`);
    const peers = await client.execute('SELECT * FROM system.peers');
    check(peers.rowLength === 0, `system.peers is empty (${peers.rowLength} rows)`);

    stage = 'schema';
    await client.execute(
      `CREATE KEYSPACE IF NOT EXISTS ${KEYSPACE} WITH replication = ` +
      "{'class': 'SimpleStrategy', 'replication_factor': 1}");
    await client.execute(
      `CREATE TABLE IF NOT EXISTS ${KEYSPACE}.types (id uuid PRIMARY KEY, name text, n int, big bigint, ` +
      'tags list<text>, scores map<text, int>, nums set<int>, ts timestamp, data blob, flag boolean, ' +
      'price decimal, huge varint)');
    await client.execute(`CREATE TABLE IF NOT EXISTS ${KEYSPACE}.counters (k text PRIMARY KEY, c counter)`);
    await client.execute(
      `CREATE TABLE IF NOT EXISTS ${KEYSPACE}.paged (p uuid, c int, v text, PRIMARY KEY (p, c))`);
    await client.execute(`CREATE TABLE IF NOT EXISTS ${KEYSPACE}.lwt (k uuid PRIMARY KEY, v text)`);
    const table = await client.metadata.getTable(KEYSPACE, 'types');
    check(table && table.columns.length === COLUMNS.length,
      `schema metadata of ${KEYSPACE}.types has ${COLUMNS.length} columns`);

    stage = 'prepared insert';
    const insertCql = `INSERT INTO ${KEYSPACE}.types (${COLUMNS.join(', ')}) VALUES (${COLUMNS.map(() => '?').join(', ')})`;
    const rows = Array.from({ length: 100 }, (_, i) => makeRow(i));
    for (const r of rows) {
      await client.execute(insertCql, COLUMNS.map((c) => r[c]), { prepare: true });
    }

    stage = 'prepared select';
    const selectCql = `SELECT ${COLUMNS.join(', ')} FROM ${KEYSPACE}.types WHERE id = ?`;
    for (const r of rows) {
      const rs = await client.execute(selectCql, [r.id], { prepare: true });
      check(rs.rowLength === 1, `one row for ${r.id}`);
      checkRow(r, rs.first(), 'prepared');
    }
    summary.preparedRows = rows.length;

    stage = 'simple query';
    {
      // unprepared, with bound values typed by the driver's guessing
      const rs = await client.execute(selectCql, [rows[7].id]);
      checkRow(rows[7], rs.first(), 'simple');
      // unprepared, literal values only
      const extra = makeRow(1000);
      await client.execute(
        `INSERT INTO ${KEYSPACE}.types (id, name, n, flag) VALUES (${extra.id}, 'literal', 42, true)`);
      const lit = (await client.execute(`SELECT name, n, flag FROM ${KEYSPACE}.types WHERE id = ${extra.id}`)).first();
      check(lit && lit.name === 'literal' && lit.n === 42 && lit.flag === true, 'literal insert read back');
      // unprepared with type hints
      const hinted = await client.execute(`SELECT n FROM ${KEYSPACE}.types WHERE id = ?`, [rows[8].id.toString()],
        { hints: ['uuid'] });
      check(hinted.first().n === rows[8].n, 'hinted query read back');
    }

    stage = 'logged batch';
    {
      const batchRows = Array.from({ length: 5 }, (_, i) => makeRow(200 + i));
      await client.batch(batchRows.map((r) => ({ query: insertCql, params: COLUMNS.map((c) => r[c]) })),
        { prepare: true, logged: true });
      const simpleBatch = Array.from({ length: 3 }, (_, i) => makeRow(300 + i));
      await client.batch(simpleBatch.map((r) => ({
        // unprepared: a JS number would be sent as a double, so the int goes in as a literal
        query: `INSERT INTO ${KEYSPACE}.types (id, name, n) VALUES (?, ?, ${r.n})`,
        params: [r.id, r.name],
      })), { prepare: false, logged: true });
      for (const r of batchRows) {
        checkRow(r, (await client.execute(selectCql, [r.id], { prepare: true })).first(), 'batch');
      }
      for (const r of simpleBatch) {
        const got = (await client.execute(selectCql, [r.id], { prepare: true })).first();
        check(got && got.name === r.name && got.n === r.n, `unprepared batch row ${r.id}`);
      }
      summary.batchRows = batchRows.length + simpleBatch.length;
    }

    stage = 'lwt';
    {
      const k = Uuid.random();
      const lwt = `INSERT INTO ${KEYSPACE}.lwt (k, v) VALUES (?, ?) IF NOT EXISTS`;
      const first = await client.execute(lwt, [k, 'first'], { prepare: true });
      check(first.wasApplied() === true, 'first IF NOT EXISTS applied');
      const second = await client.execute(lwt, [k, 'second'], { prepare: true });
      check(second.wasApplied() === false, 'second IF NOT EXISTS not applied');
      check(second.first().v === 'first', `not-applied LWT returns the existing row (v=${second.first().v})`);
      const upd = await client.execute(`UPDATE ${KEYSPACE}.lwt SET v = ? WHERE k = ? IF v = ?`,
        ['third', k, 'first'], { prepare: true });
      check(upd.wasApplied() === true, 'conditional UPDATE applied');
      const serialRead = await client.execute(`SELECT v FROM ${KEYSPACE}.lwt WHERE k = ?`, [k],
        { prepare: true, consistency: types.consistencies.serial });
      check(serialRead.first().v === 'third', 'SERIAL read sees the conditional update');
      summary.lwt = true;
    }

    stage = 'counter';
    {
      const key = `node-v${summary.protocol}`;
      const readCounter = async () => {
        const r = (await client.execute(`SELECT c FROM ${KEYSPACE}.counters WHERE k = ?`, [key], { prepare: true })).first();
        return r ? r.c : Long.ZERO;
      };
      const before = await readCounter();
      const upd = `UPDATE ${KEYSPACE}.counters SET c = c + ? WHERE k = ?`;
      await client.execute(upd, [Long.fromNumber(5), key], { prepare: true });
      await client.execute(upd, [Long.fromNumber(-2), key], { prepare: true });
      await client.batch([{ query: upd, params: [Long.fromNumber(10), key] }], { prepare: true, counter: true });
      const after = await readCounter();
      check(after.subtract(before).equals(Long.fromNumber(13)), `counter moved by 13 (${before} -> ${after})`);
      summary.counter = after.toString();
    }

    stage = 'paging';
    {
      const p = Uuid.random();
      const ins = `INSERT INTO ${KEYSPACE}.paged (p, c, v) VALUES (?, ?, ?)`;
      const pending = [];
      for (let c = 0; c < 500; c++) {
        pending.push(client.execute(ins, [p, c, `v${c}`], { prepare: true }));
        if (pending.length === 50) {
          await Promise.all(pending.splice(0));
        }
      }
      await Promise.all(pending);
      const sel = `SELECT c, v FROM ${KEYSPACE}.paged WHERE p = ?`;

      // 1. manual paging with the page state
      let pageState;
      let pages = 0;
      const seen = [];
      do {
        const rs = await client.execute(sel, [p], { prepare: true, fetchSize: 50, pageState });
        pages++;
        check(rs.rowLength <= 50, `page ${pages} has at most 50 rows (${rs.rowLength})`);
        for (const row of rs.rows) {
          seen.push(row.c);
        }
        pageState = rs.pageState;
        check(pages <= 20, 'paging terminates');
      } while (pageState);
      check(seen.length === 500 && seen.every((c, i) => c === i), `manual paging read 500 ordered rows (${seen.length})`);
      check(pages >= 10, `manual paging used >= 10 pages (${pages})`);
      summary.pages = pages;

      // 2. eachRow with autoPage
      const eachRows = await new Promise((resolve, reject) => {
        const got = [];
        client.eachRow(sel, [p], { prepare: true, fetchSize: 50, autoPage: true },
          (_i, row) => got.push(row),
          (err) => (err ? reject(err) : resolve(got)));
      });
      check(eachRows.length === 500 && eachRows.every((row, i) => row.c === i && row.v === `v${i}`),
        `eachRow autoPage read 500 ordered rows (${eachRows.length})`);

      // 3. stream
      const streamCount = await new Promise((resolve, reject) => {
        let n = 0;
        client.stream(sel, [p], { prepare: true, fetchSize: 50, autoPage: true })
          .on('readable', function onReadable() {
            while (this.read() !== null) {
              n++;
            }
          })
          .on('end', () => resolve(n))
          .on('error', reject);
      });
      check(streamCount === 500, `stream read 500 rows (${streamCount})`);

      // 4. async iteration over a paged result
      let iterCount = 0;
      const rs = await client.execute(sel, [p], { prepare: true, fetchSize: 50 });
      for await (const row of rs) {
        check(row.c === iterCount, 'async iteration order');
        iterCount++;
      }
      check(iterCount === 500, `async iteration read 500 rows (${iterCount})`);
      summary.pagedRows = 500;
    }

    stage = 'keyspace client';
    {
      // a client bound to a keyspace issues USE on every connection
      const ksClient = new cassandra.Client(clientOptions(endpoint, version, { keyspace: KEYSPACE }));
      ksClient.on('log', onLog);
      await ksClient.connect();
      try {
        check(ksClient.keyspace === KEYSPACE, `client keyspace is ${KEYSPACE} (${ksClient.keyspace})`);
        const rs = await ksClient.execute('SELECT n FROM types WHERE id = ?', [rows[11].id], { prepare: true });
        check(rs.first().n === rows[11].n, 'unqualified table read through a keyspace client');
        check(JSON.stringify(ksClient.hosts.keys()) === JSON.stringify([endpoint]),
          `keyspace client hosts: ${JSON.stringify(ksClient.hosts.keys())}`);
      } finally {
        await ksClient.shutdown();
      }
    }

    stage = 'final hosts';
    summary.hosts = client.hosts.keys();
    check(summary.hosts.length === 1 && summary.hosts[0] === endpoint,
      `client.hosts still lists only the sidecar: ${JSON.stringify(summary.hosts)}`);
    const state = client.getState();
    const connected = state.getConnectedHosts().map((x) => x.address);
    check(connected.length === 1 && connected[0] === endpoint, `connected hosts: ${JSON.stringify(connected)}`);
    summary.openConnections = state.getOpenConnections(connected.length ? state.getConnectedHosts()[0] : null);
  } catch (err) {
    err.stage = stage;
    throw err;
  } finally {
    await client.shutdown();
  }
  summary.ok = true;
  return summary;
}

function main() {
  const timer = setTimeout(() => fail(new Error(`timed out after ${OVERALL_TIMEOUT_MS} ms`)), OVERALL_TIMEOUT_MS);
  let args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (err) {
    fail(err, err.unsupported ? 2 : 1);
    return;
  }
  run(args).then((summary) => {
    clearTimeout(timer);
    out(summary);
    process.exit(0);
  }, (err) => fail(err));
}

process.on('unhandledRejection', (err) => fail(err));
main();
