// Package nodeproc runs `grove node` as an OS process and talks to it
// through its admin API, for the demo and the end-to-end tests.
package nodeproc

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/grovedev/grove/agent"
)

// Proc is one `grove node` process.
type Proc struct {
	Cmd   *exec.Cmd
	Addr  string // where it accepts node links
	Admin string // its admin API, host:port
	Token string // the admin API's bearer token (its --admin-token), sent with every request

	exited chan struct{}
	err    error // the process's exit, set before exited closes

	mu  sync.Mutex
	log []string // what it logged
}

var startedLine = regexp.MustCompile(`msg="node started" name=\S+ addr=(\S+) admin=(\S+)`)

// Start runs `grove node` with args and returns once it has said where it
// listens. ctx bounds the process's life.
func Start(ctx context.Context, grove string, args ...string) (*Proc, error) {
	cmd := exec.CommandContext(ctx, grove, append([]string{"node"}, args...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &Proc{Cmd: cmd, exited: make(chan struct{})}
	for i, a := range args {
		if a == "--admin-token" && i+1 < len(args) {
			p.Token = args[i+1]
		}
	}
	found := make(chan []string, 1)
	// The reader owns the process's exit: it ends when stderr closes.
	go func() {
		defer close(p.exited)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			p.mu.Lock()
			p.log = append(p.log, sc.Text())
			p.mu.Unlock()
			if m := startedLine.FindStringSubmatch(sc.Text()); m != nil {
				found <- m
			}
		}
		io.Copy(io.Discard, stderr)
		p.err = cmd.Wait()
	}()
	select {
	case m := <-found:
		p.Addr, p.Admin = m[1], m[2]
		return p, nil
	case <-p.exited:
		return nil, fmt.Errorf("nodeproc: grove node exited at start: %v\n%s", p.err, p.Logs())
	case <-time.After(20 * time.Second):
		p.Kill()
		return nil, errors.New("nodeproc: grove node did not start within 20s")
	}
}

// Exited is closed once the process has exited; Err then tells how.
func (p *Proc) Exited() <-chan struct{} { return p.exited }

// Err returns the process's exit error, once Exited is closed.
func (p *Proc) Err() error { <-p.exited; return p.err }

// Signal sends sig to the process.
func (p *Proc) Signal(sig os.Signal) error { return p.Cmd.Process.Signal(sig) }

// Kill kills the process and waits for it. Safe after it has exited.
func (p *Proc) Kill() {
	p.Cmd.Process.Kill()
	<-p.exited
}

// Logs returns what the process has logged so far.
func (p *Proc) Logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.log, "\n")
}

var client = http.Client{Timeout: 2 * time.Second}

// Get fetches path from the admin API and returns the status code.
func (p *Proc) Get(path string) (int, error) {
	resp, err := p.get(path)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// Members returns the members as the node sees them, by name.
func (p *Proc) Members() (map[string]agent.Member, error) {
	resp, err := p.get("/v1/members")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var ms []agent.Member
	if err := json.NewDecoder(resp.Body).Decode(&ms); err != nil {
		return nil, err
	}
	out := make(map[string]agent.Member, len(ms))
	for _, m := range ms {
		out[m.Name] = m
	}
	return out, nil
}

// get fetches path from the admin API with the token, if any.
func (p *Proc) get(path string) (*http.Response, error) {
	req, err := http.NewRequest("GET", "http://"+p.Admin+path, nil)
	if err != nil {
		return nil, err
	}
	if p.Token != "" {
		req.Header.Set("Authorization", "Bearer "+p.Token)
	}
	return client.Do(req)
}
