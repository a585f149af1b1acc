package main

import (
	"fmt"
	"math/rand/v2"

	"github.com/gocql/gocql"
)

// The workloads of the benchmarks in tests/bench, each one prepared statement (or two) with random
// keys. Statements are prepared by the driver on first use and reused from its cache.
type params struct {
	keyspace, table   string
	keys              int     // kv, write: key range
	readRatio         float64 // kv: share of SELECTs
	updateRatio       float64 // write: share of UPDATEs
	partitions, rows  int     // get, query
	value, valueOther []byte
}

// op runs one request; it returns an error for a failed request or a wrongAnswer.
type op func(s *gocql.Session, rng *rand.Rand) error

// wrongAnswer: the request was answered, but not with what the workload expects. It counts as an
// error and as an answered request (its latency is recorded).
type wrongAnswer struct{ got, want int }

func (w wrongAnswer) Error() string {
	return fmt.Sprintf("wrong result: %d rows, expected %d", w.got, w.want)
}

var workloadNames = []string{"kv", "write", "get", "query"}

func newWorkload(name string, p *params) (op, error) {
	t := p.keyspace + "." + p.table
	switch name {
	case "kv":
		ins := fmt.Sprintf("INSERT INTO %s (k, v) VALUES (?, ?)", t)
		sel := fmt.Sprintf("SELECT k, v FROM %s WHERE k = ?", t)
		return byKey(p.keys, p.readRatio,
			func(s *gocql.Session, k int) error { return readRows(s.Query(sel, k), 2, -1) },
			func(s *gocql.Session, k int) error { return exec(s.Query(ins, k, p.value)) }), nil
	case "write":
		ins := fmt.Sprintf("INSERT INTO %s (k, v) VALUES (?, ?)", t)
		upd := fmt.Sprintf("UPDATE %s SET v = ? WHERE k = ?", t)
		return byKey(p.keys, p.updateRatio,
			func(s *gocql.Session, k int) error { return exec(s.Query(upd, p.valueOther, k)) },
			func(s *gocql.Session, k int) error { return exec(s.Query(ins, k, p.value)) }), nil
	case "get":
		get := fmt.Sprintf("SELECT p, c, v FROM %s WHERE p = ? AND c = ?", t)
		return func(s *gocql.Session, rng *rand.Rand) error {
			k := rng.IntN(p.partitions * p.rows)
			return readRows(s.Query(get, k/p.rows, k%p.rows), 3, 1)
		}, nil
	case "query":
		query := fmt.Sprintf("SELECT p, c, v FROM %s WHERE p = ?", t)
		return func(s *gocql.Session, rng *rand.Rand) error {
			return readRows(s.Query(query, rng.IntN(p.partitions)), 3, p.rows)
		}, nil
	}
	return nil, fmt.Errorf("unknown workload %q (known: %v)", name, workloadNames)
}

// byKey: a random key in [0, keys), then `share` of the requests are `some`, the rest `other`.
func byKey(keys int, share float64, some, other func(*gocql.Session, int) error) op {
	return func(s *gocql.Session, rng *rand.Rand) error {
		k := rng.IntN(keys)
		if rng.Float64() < share {
			return some(s, k)
		}
		return other(s, k)
	}
}

func exec(q *gocql.Query) error {
	err := q.Exec()
	q.Release()
	return err
}

// readRows decodes every row of the answer (as a client would): `cols` int columns, the last
// one a blob. It checks the number of rows unless want is negative.
func readRows(q *gocql.Query, cols int, want int) error {
	var a, b int
	var v []byte
	dest := []interface{}{&a, &b, &v}
	if cols == 2 {
		dest = []interface{}{&a, &v}
	}
	iter := q.Iter()
	n := 0
	for iter.Scan(dest...) {
		n++
	}
	err := iter.Close()
	q.Release()
	if err != nil {
		return err
	}
	if want >= 0 && n != want {
		return wrongAnswer{n, want}
	}
	return nil
}
