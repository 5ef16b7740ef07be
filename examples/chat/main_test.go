package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// participant is one chat process.
type participant struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	mu    sync.Mutex
	out   []string
	addr  chan string
	done  chan error
}

func (p *participant) has(s string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range p.out {
		if strings.Contains(l, s) {
			return true
		}
	}
	return false
}

func (p *participant) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.out, "\n")
}

func (p *participant) say(t *testing.T, line string) {
	t.Helper()
	if _, err := fmt.Fprintln(p.stdin, line); err != nil {
		t.Fatal(err)
	}
}

func start(t *testing.T, bin, name, user string, join ...string) *participant {
	t.Helper()
	args := []string{"--name", name, "--listen", "127.0.0.1:0", "--admin", "", "--cookie", "test-cookie",
		"--heartbeat", "100ms", "--user", user}
	for _, j := range join {
		args = append(args, "--join", j)
	}
	cmd := exec.Command(bin, args...)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &participant{cmd: cmd, stdin: stdin, addr: make(chan string, 1), done: make(chan error, 1)}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			if a, ok := strings.CutPrefix(line, "listening on "); ok {
				p.addr <- a
			}
			p.mu.Lock()
			p.out = append(p.out, line)
			p.mu.Unlock()
		}
		err := cmd.Wait()
		if err != nil {
			err = fmt.Errorf("%w\n%s", err, stderr.String())
		}
		p.done <- err
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.done
	})
	return p
}

func waitFor(t *testing.T, p *participant, s string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !p.has(s) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in:\n%s", s, p.output())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Three chat processes form a room: lines reach the others, joins and
// leaves show, and a killed participant leaves everyone's list.
func TestThreeProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs three processes")
	}
	bin := filepath.Join(t.TempDir(), "chat")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ann := start(t, bin, "a@127.0.0.1", "ann")
	var seed string
	select {
	case seed = <-ann.addr:
	case err := <-ann.done:
		t.Fatalf("ann exited: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("ann did not start")
	}
	bob := start(t, bin, "b@127.0.0.1", "bob", seed)
	cat := start(t, bin, "c@127.0.0.1", "cat", seed)
	for _, who := range []string{"* bob is here", "* cat is here"} {
		waitFor(t, ann, who)
	}
	waitFor(t, bob, "* cat is here")
	waitFor(t, cat, "* bob is here")

	ann.say(t, "hello, room")
	waitFor(t, bob, "ann: hello, room")
	waitFor(t, cat, "ann: hello, room")
	if ann.has("ann: hello, room") {
		t.Fatal("ann heard her own line")
	}
	cat.say(t, "bye")
	waitFor(t, ann, "cat: bye")

	cat.cmd.Process.Signal(syscall.SIGKILL)
	waitFor(t, ann, "* cat left")
	waitFor(t, bob, "* cat left")
	bob.say(t, "/who")
	waitFor(t, bob, "here: ann, bob")

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, p := range []*participant{ann, bob} {
		p.stdin.Close() // the end of input leaves the room
		select {
		case err := <-p.done:
			p.done <- err
			if err != nil {
				t.Fatalf("exit: %v", err)
			}
		case <-ctx.Done():
			t.Fatal("a participant did not leave at the end of its input")
		}
	}
}
