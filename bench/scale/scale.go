// Go's side of issue 13's scaling scenarios (see scale_bench.cpp for the C++
// side and the scenarios): errgroup (golang.org/x/sync, Debian's
// golang-golang-x-sync-dev) with SetLimit and WithContext, context.WithTimeout,
// and select over 8 goroutines. Built offline in GOPATH mode by bench/scale.sh:
//
//	GOPATH=/usr/share/gocode GO111MODULE=off go build -o scale_go bench/scale/scale.go
//
// Usage: scale_go SCENARIO N. Prints one JSON line with the same fields as
// scale_bench: threads_created is the runtime's threadcreate profile count (every
// OS thread the runtime made, its start-up threads included), peak_rss_mb is
// ru_maxrss.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime/pprof"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"
)

type taskError struct{ index int }

func (e *taskError) Error() string { return fmt.Sprintf("task %d failed", e.index) }

type concurrency struct{ now, peak, done int64 }

func (c *concurrency) enter() {
	n := atomic.AddInt64(&c.now, 1)
	for {
		p := atomic.LoadInt64(&c.peak)
		if n <= p || atomic.CompareAndSwapInt64(&c.peak, p, n) {
			return
		}
	}
}

func (c *concurrency) leave() {
	atomic.AddInt64(&c.now, -1)
	atomic.AddInt64(&c.done, 1)
}

// sleepCtx sleeps for d unless ctx is done first; false when it was.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return ctx.Err() == nil
	case <-ctx.Done():
		return false
	}
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	sort.Float64s(v)
	return v[len(v)/2]
}

func run(scenario string, n int, out map[string]any) bool {
	switch scenario {
	case "sleep", "sleep_limit16":
		var c concurrency
		var g errgroup.Group
		if scenario == "sleep_limit16" {
			g.SetLimit(16)
		}
		for i := 0; i < n; i++ {
			g.Go(func() error {
				c.enter()
				time.Sleep(time.Millisecond)
				c.leave()
				return nil
			})
		}
		err := g.Wait()
		out["completed"] = c.done
		out["peak_running"] = c.peak
		return err == nil && c.done == int64(n) && (scenario == "sleep" || c.peak <= 16)
	case "fail_half":
		var completed, stopped int64
		g, ctx := errgroup.WithContext(context.Background())
		for i := 0; i < n; i++ {
			i := i
			g.Go(func() error {
				if ctx.Err() != nil || !sleepCtx(ctx, time.Millisecond) {
					atomic.AddInt64(&stopped, 1)
					return ctx.Err()
				}
				if i == n/2 {
					return &taskError{i}
				}
				atomic.AddInt64(&completed, 1)
				return nil
			})
		}
		err := g.Wait()
		failed := -1
		var te *taskError
		if errors.As(err, &te) {
			failed = te.index
		}
		out["failed_task"] = failed
		out["completed"] = completed
		out["stopped"] = stopped
		if err != nil {
			out["error"] = err.Error()
		}
		return failed == n/2
	case "alive":
		var started int64
		all := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(n)
		for i := 0; i < n; i++ {
			go func() {
				defer wg.Done()
				if atomic.AddInt64(&started, 1) == int64(n) {
					close(all)
				}
				<-all
			}()
		}
		wg.Wait()
		return true
	case "timeout_ok":
		fn := func(ctx context.Context) error { return ctx.Err() }
		good := 0
		t0 := time.Now()
		for i := 0; i < n; i++ {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			if fn(ctx) == nil {
				good++
			}
			cancel()
		}
		out["ns_per_call"] = float64(time.Since(t0).Nanoseconds()) / float64(n)
		return good == n
	case "first_of8":
		added := make([]float64, 0, n)
		for round := 0; round < n; round++ {
			ctx, cancel := context.WithCancel(context.Background())
			type win struct {
				k  int
				us float64
			}
			first := make(chan win, 8)
			var wg sync.WaitGroup
			t0 := time.Now()
			for k := 1; k <= 8; k++ {
				k := k
				wg.Add(1)
				go func() {
					defer wg.Done()
					r0 := time.Now()
					if sleepCtx(ctx, time.Duration(k)*time.Millisecond) {
						first <- win{k, float64(time.Since(r0).Nanoseconds()) / 1000}
					}
				}()
			}
			w := <-first
			cancel()
			wg.Wait()
			added = append(added, float64(time.Since(t0).Nanoseconds())/1000-w.us)
		}
		out["added_us"] = median(added)
		return len(added) == n
	}
	out["error"] = "scenario not run by go"
	return false
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: scale_go SCENARIO N")
		os.Exit(2)
	}
	scenario := os.Args[1]
	n, err := strconv.Atoi(os.Args[2])
	if err != nil || n <= 0 {
		fmt.Fprintln(os.Stderr, "scale_go: N must be a positive integer")
		os.Exit(2)
	}
	out := map[string]any{}
	t0 := time.Now()
	ok := run(scenario, n, out)
	wall := float64(time.Since(t0).Nanoseconds()) / 1e6
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	out["impl"] = "go"
	out["scenario"] = scenario
	out["n"] = n
	out["wall_ms"] = wall
	out["threads_created"] = pprof.Lookup("threadcreate").Count()
	out["peak_rss_mb"] = float64(ru.Maxrss) / 1024
	out["ok"] = ok
	line, _ := json.Marshal(out)
	fmt.Println(string(line))
	if !ok {
		os.Exit(1)
	}
}
