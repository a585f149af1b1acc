// Command loadgen keeps a fixed number of CQL requests outstanding against one or more endpoints
// (each its own driver session, one host, no token-aware routing) and reports every round as one
// JSON line on stdout: operations, errors, latency percentiles and histogram, and its own CPU.
//
// One round:   loadgen -endpoint direct=127.0.0.1:9042 -workload kv -keyspace ks -table kv \
//
//	-concurrency 8 -duration 10
//
// Rounds driven by a harness (-serve): after {"ready": true, ...} it reads one JSON command a
// line from stdin, {"target": "direct", "workload": "kv", "concurrency": 8, "duration": 2.5},
// answers each with the round's result, and exits on {"stop": true} or end of input.
package main

import (
	"bufio"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	mrand "math/rand/v2"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gocql/gocql"
)

// a slot that has seen this many errors in a round stops (the endpoint is probably gone)
const maxErrorsPerRound = 1000

type command struct {
	Target      string  `json:"target"`
	Workload    string  `json:"workload"`
	Concurrency int     `json:"concurrency"`
	Duration    float64 `json:"duration"`
	Stop        bool    `json:"stop"`
}

type result struct {
	Target      string         `json:"target"`
	Workload    string         `json:"workload"`
	Concurrency int            `json:"concurrency"`
	Duration    float64        `json:"duration"`
	Ops         uint64         `json:"ops"`       // answered before the deadline (a failed request is not)
	Completed   uint64         `json:"completed"` // all answered, in the drain after the deadline too
	Errors      uint64         `json:"errors"`
	FirstError  string         `json:"first_error"`
	WallS       float64        `json:"wall_s"`
	CPUS        float64        `json:"cpu_s"`
	UserS       float64        `json:"user_s"`
	SysS        float64        `json:"sys_s"`
	LatencyMs   map[string]any `json:"latency_ms"`
	Hist        [][2]float64   `json:"hist"` // [microseconds, count], non-empty buckets
	Seq         int            `json:"seq"`
}

type endpoints map[string]string

func (e endpoints) String() string { return fmt.Sprint(map[string]string(e)) }
func (e endpoints) Set(v string) error {
	name, addr, ok := strings.Cut(v, "=")
	if !ok || name == "" || addr == "" {
		return fmt.Errorf("want NAME=HOST:PORT, got %q", v)
	}
	e[name] = addr
	return nil
}

type options struct {
	endpoints   endpoints
	workloads   string
	protocol    int
	compression string
	conns       int
	coalesce    time.Duration
	timeout     time.Duration
	seed        uint64
	serve       bool
	concurrency int
	duration    float64
	p           params
}

func parseOptions(args []string) (*options, error) {
	o := &options{endpoints: endpoints{}}
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.Var(o.endpoints, "endpoint", "NAME=HOST:PORT, repeatable (one session each)")
	fs.StringVar(&o.workloads, "workload", "kv", "comma-separated, of "+strings.Join(workloadNames, ", "))
	fs.StringVar(&o.p.keyspace, "keyspace", "", "keyspace of the table")
	fs.StringVar(&o.p.table, "table", "kv", "table")
	fs.IntVar(&o.protocol, "protocol", 4, "native protocol version")
	fs.StringVar(&o.compression, "compression", "none", "none or snappy")
	fs.IntVar(&o.conns, "conns", 1, "connections per endpoint")
	fs.DurationVar(&o.coalesce, "coalesce", 0, "how long the driver may hold a write to join others (0: off)")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Second, "request timeout")
	fs.Uint64Var(&o.seed, "seed", 0, "random seed (0: from the clock)")
	fs.BoolVar(&o.serve, "serve", false, "run rounds read from stdin")
	fs.IntVar(&o.concurrency, "concurrency", 1, "outstanding requests (one round, without -serve)")
	fs.Float64Var(&o.duration, "duration", 10, "seconds (one round, without -serve)")
	fs.IntVar(&o.p.keys, "keys", 10000, "kv, write: key range")
	fs.Float64Var(&o.p.readRatio, "read-ratio", 0.5, "kv: share of SELECTs")
	fs.Float64Var(&o.p.updateRatio, "update-ratio", 0.2, "write: share of UPDATEs")
	fs.IntVar(&o.p.partitions, "partitions", 2000, "get, query: partitions")
	fs.IntVar(&o.p.rows, "rows", 20, "get, query: rows per partition")
	valueSize := fs.Int("value-size", 1024, "bytes of the blob written")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	switch {
	case len(o.endpoints) == 0:
		return nil, errors.New("give at least one -endpoint NAME=HOST:PORT")
	case o.p.keyspace == "":
		return nil, errors.New("-keyspace is required")
	case o.p.keys < 1 || o.p.partitions < 1 || o.p.rows < 1 || *valueSize < 0 || o.conns < 1:
		return nil, errors.New("-keys, -partitions, -rows and -conns must be positive")
	case o.compression != "none" && o.compression != "snappy":
		return nil, fmt.Errorf("-compression %q: this build has none and snappy", o.compression)
	}
	o.p.value, o.p.valueOther = make([]byte, *valueSize), make([]byte, *valueSize)
	_, _ = rand.Read(o.p.value)
	_, _ = rand.Read(o.p.valueOther)
	if o.seed == 0 {
		o.seed = uint64(time.Now().UnixNano())
	}
	return o, nil
}

func connect(addr string, o *options) (*gocql.Session, error) {
	c := gocql.NewCluster(addr)
	c.ProtoVersion = o.protocol
	c.NumConns = o.conns
	c.Timeout = o.timeout
	c.ConnectTimeout = 10 * time.Second
	c.Consistency = gocql.LocalOne
	// gocql holds each write up to 200 µs by default to join it with others: latency at low
	// concurrency that no other client here adds
	c.WriteCoalesceWaitTime = o.coalesce
	// exactly the endpoint given: a sidecar or relay reports Cassandra's own address in
	// system.local/peers, which must not be dialled instead
	c.DisableInitialHostLookup = true
	c.Events.DisableNodeStatusEvents = true
	c.Events.DisableTopologyEvents = true
	c.Events.DisableSchemaEvents = true
	c.PoolConfig.HostSelectionPolicy = gocql.RoundRobinHostPolicy()
	if o.compression == "snappy" {
		c.Compressor = gocql.SnappyCompressor{}
	}
	return c.CreateSession()
}

type rusage struct{ user, sys float64 }

func selfCPU() rusage {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return rusage{tv(ru.Utime), tv(ru.Stime)}
}

// runRound keeps `concurrency` requests outstanding for `duration` seconds: each slot is a
// goroutine that sends its next request when the previous one is answered.
func runRound(s *gocql.Session, do op, concurrency int, duration float64, seed uint64) *result {
	res := &result{Concurrency: concurrency, Duration: duration}
	hists := make([]histogram, concurrency)
	var ops, completed, errCount atomic.Uint64
	var firstErr sync.Once
	var wg sync.WaitGroup
	cpu0 := selfCPU()
	start := time.Now()
	deadline := start.Add(time.Duration(duration * float64(time.Second)))
	for i := 0; i < concurrency; i++ {
		wg.Add(1)
		go func(h *histogram, rng *mrand.Rand) {
			defer wg.Done()
			slotErrors := 0
			for {
				t0 := time.Now()
				if !t0.Before(deadline) {
					return
				}
				err := do(s, rng)
				t1 := time.Now()
				var wrong wrongAnswer
				if err == nil || errors.As(err, &wrong) { // answered: a failed request is not timed
					h.record(uint64(t1.Sub(t0)))
					completed.Add(1)
					if !t1.After(deadline) {
						ops.Add(1)
					}
				}
				if err != nil {
					errCount.Add(1)
					firstErr.Do(func() { res.FirstError = err.Error() })
					if slotErrors++; slotErrors > maxErrorsPerRound {
						return
					}
				}
			}
		}(&hists[i], mrand.New(mrand.NewPCG(seed, uint64(i))))
	}
	wg.Wait()
	res.WallS = time.Since(start).Seconds()
	cpu1 := selfCPU()
	res.UserS, res.SysS = cpu1.user-cpu0.user, cpu1.sys-cpu0.sys
	res.CPUS = res.UserS + res.SysS
	res.Ops, res.Completed, res.Errors = ops.Load(), completed.Load(), errCount.Load()
	var all histogram
	for i := range hists {
		all.merge(&hists[i])
	}
	ms := func(ns float64) any {
		if math.IsNaN(ns) {
			return nil // JSON has no NaN
		}
		return ns / 1e6
	}
	res.LatencyMs = map[string]any{
		"p50": ms(all.quantile(0.50)), "p95": ms(all.quantile(0.95)), "p99": ms(all.quantile(0.99)),
		"max": ms(float64(all.maxNs)), "mean": nil,
	}
	if all.total > 0 {
		res.LatencyMs["mean"] = all.sumNs / float64(all.total) / 1e6
	}
	res.Hist = all.sparse()
	return res
}

type runner struct {
	sessions map[string]*gocql.Session
	ops      map[string]op
	seed     uint64
	seq      int
}

func (r *runner) round(c command) (*result, error) {
	s, ok := r.sessions[c.Target]
	if !ok {
		return nil, fmt.Errorf("no endpoint %q", c.Target)
	}
	do, ok := r.ops[c.Workload]
	if !ok {
		return nil, fmt.Errorf("workload %q was not given with -workload", c.Workload)
	}
	if c.Concurrency < 1 || c.Duration <= 0 {
		return nil, fmt.Errorf("concurrency %d, duration %v: both must be positive", c.Concurrency, c.Duration)
	}
	r.seq++
	res := runRound(s, do, c.Concurrency, c.Duration, r.seed*1_000_003+uint64(r.seq))
	res.Target, res.Workload, res.Seq = c.Target, c.Workload, r.seq
	return res, nil
}

func serve(r *runner, out *json.Encoder) error {
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		line := strings.TrimSpace(in.Text())
		if line == "" {
			continue
		}
		var c command
		if err := json.Unmarshal([]byte(line), &c); err != nil {
			return fmt.Errorf("bad command %q: %w", line, err)
		}
		if c.Stop {
			return nil
		}
		res, err := r.round(c)
		if err != nil {
			return err
		}
		if err := out.Encode(res); err != nil {
			return err
		}
	}
	return in.Err()
}

func run(args []string) error {
	o, err := parseOptions(args)
	if err != nil {
		return err
	}
	r := &runner{sessions: map[string]*gocql.Session{}, ops: map[string]op{}, seed: o.seed}
	var firstWorkload, firstTarget string
	for _, w := range strings.Split(o.workloads, ",") {
		w = strings.TrimSpace(w)
		if r.ops[w], err = newWorkload(w, &o.p); err != nil {
			return err
		}
		if firstWorkload == "" {
			firstWorkload = w
		}
	}
	defer func() {
		for _, s := range r.sessions {
			s.Close()
		}
	}()
	for name, addr := range o.endpoints {
		s, err := connect(addr, o)
		if err != nil {
			return fmt.Errorf("endpoint %s (%s): %w", name, addr, err)
		}
		r.sessions[name] = s
		if firstTarget == "" || name < firstTarget {
			firstTarget = name
		}
	}
	out := json.NewEncoder(os.Stdout)
	if o.serve {
		if err := out.Encode(map[string]any{"ready": true, "pid": os.Getpid()}); err != nil {
			return err
		}
		return serve(r, out)
	}
	res, err := r.round(command{Target: firstTarget, Workload: firstWorkload, Concurrency: o.concurrency,
		Duration: o.duration})
	if err != nil {
		return err
	}
	return out.Encode(res)
}

func main() {
	if err := run(os.Args[1:]); err != nil {
		_ = json.NewEncoder(os.Stdout).Encode(map[string]string{"error": err.Error()})
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}
