package proc

import (
	"context"
	"errors"
	"testing"
	"time"
)

func newRuntimeWith(t *testing.T, cfg Config) *Runtime {
	t.Helper()
	if cfg.Node == "" {
		cfg.Node = "test@localhost"
	}
	if cfg.Logger == nil {
		cfg.Logger = quietLogger()
	}
	rt, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := rt.Close(ctx); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return rt
}

// A call whose context has no deadline gives up after the runtime's
// default call timeout, never before it, with ErrTimeout (a
// context.DeadlineExceeded); an Inspect too; a call to another node too.
func TestDefaultCallTimeout(t *testing.T) {
	const timeout = 300 * time.Millisecond
	rt := newRuntimeWith(t, Config{CallTimeout: timeout})
	h := newHolder()
	pid := mustSpawn(t, rt, h)
	h.letGo(t)
	for _, tc := range []struct {
		name string
		do   func() error
	}{
		{"call", func() error { _, err := rt.Call(context.Background(), pid, "never answered"); return err }},
		{"inspect", func() error { _, err := rt.Inspect(context.Background(), pid); return err }},
	} {
		start := time.Now()
		err := tc.do()
		took := time.Since(start)
		if !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("%s: %v, want ErrTimeout", tc.name, err)
		}
		if took < timeout {
			t.Fatalf("%s timed out after %v, before the timeout of %v", tc.name, took, timeout)
		}
		if tc.name == "call" {
			within(t, h.entered, "the call") // it blocks the process: the Inspect waits behind it
		}
	}
	// A deadline of the context's own wins, longer or shorter.
	ctx, cancel := context.WithTimeout(context.Background(), 2*timeout)
	defer cancel()
	start := time.Now()
	if _, err := rt.Inspect(ctx, pid); !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrTimeout) || time.Since(start) < 2*timeout {
		t.Fatalf("inspect with a deadline of 2×timeout: %v after %v", err, time.Since(start))
	}
}

func TestDefaultCallTimeoutOfARemoteCall(t *testing.T) {
	a, b, _ := twoNodesWith(t, Config{CallTimeout: 200 * time.Millisecond})
	h := newHolder()
	pid := mustSpawn(t, b, h)
	h.letGo(t)
	start := time.Now()
	if _, err := a.Call(context.Background(), pid, "never answered"); !errors.Is(err, ErrTimeout) || time.Since(start) < 200*time.Millisecond {
		t.Fatalf("remote call: %v after %v", err, time.Since(start))
	}
}

// WithoutTimeout waits as long as it takes, as OTP's infinity.
func TestWithoutTimeoutWaits(t *testing.T) {
	const timeout = 100 * time.Millisecond
	rt := newRuntimeWith(t, Config{CallTimeout: timeout})
	h := newHolder()
	pid := mustSpawn(t, rt, h)
	res := make(chan error, 1)
	go func() {
		v, err := rt.Call(WithoutTimeout(context.Background()), pid, "slow")
		if err == nil && v != "late answer" {
			t.Errorf("answer %v", v)
		}
		res <- err
	}()
	within(t, h.entered, "call")
	// Nothing may come within several timeouts: a bounded wait for an
	// absence.
	select {
	case err := <-res:
		t.Fatalf("a call without timeout ended after less than 5 timeouts: %v", err)
	case <-time.After(5 * timeout):
	}
	close(h.release)
	if err := within(t, res, "answer"); err != nil {
		t.Fatal(err)
	}
}

// A negative CallTimeout leaves the context alone to decide.
func TestNoDefaultCallTimeout(t *testing.T) {
	rt := newRuntimeWith(t, Config{CallTimeout: -1})
	if ep, _ := rt.calls.deadline(context.Background()); ep != nil {
		t.Fatal("a negative CallTimeout still bounds calls")
	}
	if _, cancel := rt.boundRemote(context.Background()); cancel == nil {
		t.Fatal("no cancel")
	}
}

// A timeout of a second or more is measured by the sweeper's epochs, not a
// timer per call: never before the timeout, and about a tenth later at
// most on a machine that keeps up.
func TestDefaultCallTimeoutByEpochs(t *testing.T) {
	const timeout = time.Second
	rt := newRuntimeWith(t, Config{CallTimeout: timeout})
	if rt.calls.precise || rt.calls.period != 100*time.Millisecond || rt.calls.span != 10 {
		t.Fatalf("clock: precise %v, period %v, span %d", rt.calls.precise, rt.calls.period, rt.calls.span)
	}
	h := newHolder()
	pid := mustSpawn(t, rt, h)
	h.letGo(t)
	start := time.Now()
	_, err := rt.Call(context.Background(), pid, "never answered")
	took := time.Since(start)
	if !errors.Is(err, ErrTimeout) || took < timeout {
		t.Fatalf("call: %v after %v", err, took)
	}
	t.Logf("timed out after %v", took)
}
