package storetest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grovedev/grove/eventstore"
)

// crashEnv marks the child process of RunCrash.
const crashEnv = "GROVE_EVENTSTORE_CRASH_CHILD"

// CrashConfig describes a crash test of a durable backend.
type CrashConfig struct {
	// ChildTest is the name of the test function that calls CrashChild,
	// run in the child process (the test binary itself).
	ChildTest string
	// Env is added to the child's environment, to tell it which store to
	// open (a directory, a database schema).
	Env []string
	// Open opens the store in the parent, after each kill.
	Open func(t *testing.T) eventstore.Store
	// Rounds of start, append, kill -9. Default 3.
	Rounds int
	// Seed chooses how many acknowledgements each round waits for
	// before the kill.
	Seed uint64
}

// RunCrash starts the test binary as a child process that appends events
// from several writers and prints each acknowledged append, kills it with
// SIGKILL at a random moment, and then checks, on the store reopened, that
// every acknowledged event is there exactly once at the version the append
// returned, that no event is there twice, and that streams have no gaps. It
// repeats for several rounds on the same store.
func RunCrash(t *testing.T, cfg CrashConfig) {
	if cfg.Rounds == 0 {
		cfg.Rounds = 3
	}
	r := rand.New(rand.NewPCG(cfg.Seed, 0xc4a54))
	t.Logf("crash test seed %d", cfg.Seed)
	acked := map[string]Acked{} // id → where its append put it
	var maxPos uint64
	for round := range cfg.Rounds {
		wait := 50 + r.IntN(400)
		n := runChild(t, cfg, round, wait, acked, &maxPos)
		t.Logf("round %d: killed the child after %d acknowledged appends", round, n)
		s := cfg.Open(t)
		VerifyAcked(t, s, acked, maxPos)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// Acked is where an acknowledged append put an event.
type Acked struct {
	Stream  string
	Version uint64
}

func runChild(t *testing.T, cfg CrashConfig, round, wait int, acked map[string]Acked, maxPos *uint64) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+cfg.ChildTest+"$", "-test.count=1", "-test.v=false")
	cmd.Env = append(append(os.Environ(), cfg.Env...), crashEnv+"="+strconv.Itoa(round))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	n := 0
	killed := false
	deadline := time.AfterFunc(120*time.Second, func() { cmd.Process.Kill() })
	defer deadline.Stop()
	for sc.Scan() {
		line := sc.Text()
		f := strings.Fields(line)
		if len(f) < 5 || f[0] != "ack" {
			continue // the test framework's own output
		}
		ver, err := strconv.ParseUint(f[2], 10, 64)
		pos, err2 := strconv.ParseUint(f[3], 10, 64)
		if err != nil || err2 != nil {
			t.Fatalf("bad ack line %q", line)
		}
		*maxPos = max(*maxPos, pos)
		// "ack stream lastVersion position id1 id2 ...": the ids hold
		// versions lastVersion-k+1 .. lastVersion.
		ids := f[4:]
		for i, id := range ids {
			acked[id] = Acked{Stream: f[1], Version: ver - uint64(len(ids)-1-i)}
		}
		n++
		if n == wait && !killed {
			killed = true
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
		}
	}
	err = cmd.Wait()
	if !killed {
		t.Fatalf("the child ended by itself after %d appends: %v", n, err)
	}
	return n
}

// VerifyAcked checks a store after a crash: every acknowledged event (by
// id) is there once, at the stream and version its append returned; no
// event is there twice; every stream's versions run without gaps in $all
// and match its info. maxPos is the highest position an append returned.
func VerifyAcked(t *testing.T, s eventstore.Store, acked map[string]Acked, maxPos uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// $all is read up to the head: wait for it to pass the last
	// acknowledged append (a horizon may trail the commits a little).
	for {
		h, err := s.Head(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if h >= maxPos {
			break
		}
		time.Sleep(time.Millisecond)
	}
	seen := map[string]eventstore.RecordedEvent{}
	last := map[string]uint64{}
	for from := uint64(0); ; {
		page, err := s.ReadAll(ctx, from, 1000, eventstore.Forward)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for _, e := range page {
			if prev, dup := seen[e.ID]; dup {
				t.Fatalf("event %s stored twice: %s@%d and %s@%d", e.ID, prev.StreamID, prev.Version, e.StreamID, e.Version)
			}
			seen[e.ID] = e
			if e.Version != last[e.StreamID]+1 {
				t.Fatalf("%s@%d follows %s@%d in $all", e.StreamID, e.Version, e.StreamID, last[e.StreamID])
			}
			last[e.StreamID] = e.Version
		}
		from = page[len(page)-1].Position + 1
	}
	for id, a := range acked {
		e, ok := seen[id]
		if !ok {
			t.Fatalf("acknowledged event %s (%s@%d) lost", id, a.Stream, a.Version)
		}
		if e.StreamID != a.Stream || e.Version != a.Version {
			t.Fatalf("acknowledged event %s at %s@%d, the append said %s@%d", id, e.StreamID, e.Version, a.Stream, a.Version)
		}
	}
	for stream, v := range last {
		info, err := s.StreamInfo(ctx, stream)
		if err != nil || info.Version != v {
			t.Fatalf("stream %s: info %+v %v, $all ends at %d", stream, info, err, v)
		}
	}
}

// CrashChild is the child side of RunCrash: called from the test named in
// CrashConfig.ChildTest, it returns at once unless the process is RunCrash's
// child; then it appends until killed and never returns.
func CrashChild(t *testing.T, open func(t *testing.T) eventstore.Store) {
	round := os.Getenv(crashEnv)
	if round == "" {
		t.Skip("run by RunCrash in a child process")
	}
	s := open(t)
	ctx := context.Background()
	var mu sync.Mutex // one ack line at a time
	ack := func(stream string, version, pos uint64, ids []string) {
		line := fmt.Sprintf("ack %s %d %d %s\n", stream, version, pos, strings.Join(ids, " "))
		mu.Lock()
		defer mu.Unlock()
		if _, err := os.Stdout.WriteString(line); err != nil {
			os.Exit(3)
		}
	}
	const writers = 8
	for w := range writers {
		go func() {
			stream := fmt.Sprintf("crash-%d", w)
			var v uint64
			if info, err := s.StreamInfo(ctx, stream); err == nil {
				v = info.Version
			} else if !errors.Is(err, eventstore.ErrStreamNotFound) {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(2)
			}
			for i := 0; ; i++ {
				n := 1 + i%4
				batch := make([]eventstore.EventData, n)
				ids := make([]string, n)
				for k := range batch {
					ids[k] = fmt.Sprintf("r%s-w%d-%d-%d", round, w, i, k)
					batch[k] = eventstore.EventData{ID: ids[k], Type: "Crash", Data: []byte(ids[k])}
				}
				if w == 0 && i%3 == 2 {
					// A multi-stream append: both parts or neither.
					side := eventstore.EventData{ID: ids[0] + "-side", Type: "Side"}
					r, err := s.AppendMulti(ctx,
						eventstore.StreamAppend{Stream: stream, Expected: eventstore.Exact(v), Events: batch},
						eventstore.StreamAppend{Stream: "crash-side", Expected: eventstore.Any, Events: []eventstore.EventData{side}})
					if err != nil {
						fmt.Fprintln(os.Stderr, "append:", err)
						os.Exit(2)
					}
					v = r.Streams[0].Version
					ack(stream, v, r.Position, ids)
					ack("crash-side", r.Streams[1].Version, r.Position, []string{side.ID})
					continue
				}
				r, err := s.Append(ctx, stream, eventstore.Exact(v), batch...)
				if err != nil {
					fmt.Fprintln(os.Stderr, "append:", err)
					os.Exit(2)
				}
				v = r.Streams[0].Version
				ack(stream, v, r.Position, ids)
			}
		}()
	}
	select {} // until killed
}
