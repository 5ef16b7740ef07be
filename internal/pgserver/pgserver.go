// Package pgserver starts throw-away PostgreSQL servers from an installed
// server's binaries (Debian's postgresql package), for benchmarks and crash
// tests that need a server of their own: initdb in a temporary directory,
// a free loopback port, run as the postgres user when the caller is root.
package pgserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Server is a PostgreSQL cluster in a temporary directory.
type Server struct {
	bin, dir string
	port     int
	asUser   string // run the server as this user (postgres refuses root)
}

// FindBin returns the directory of an installed server's binaries.
func FindBin() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(matches) == 0 {
		return "", errors.New("no PostgreSQL server installed (apt-get install postgresql), and no --postgres URL")
	}
	sort.Strings(matches)
	return filepath.Dir(matches[len(matches)-1]), nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Start initialises and starts a server from the binaries in bin; Stop
// removes it.
func Start(ctx context.Context, bin string) (*Server, error) {
	dir, err := os.MkdirTemp("", "grove-bench-pg-")
	if err != nil {
		return nil, err
	}
	s := &Server{bin: bin, dir: dir}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			os.RemoveAll(dir)
			return nil, errors.New("running as root needs a postgres user to run the server as")
		}
		s.asUser = "postgres"
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	if s.port, err = freePort(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	data := filepath.Join(dir, "data")
	if out, err := s.run(ctx, "initdb", "-D", data, "-A", "trust", "-U", "postgres"); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %v: %s", err, out)
	}
	if err := s.startServer(ctx); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return s, nil
}

func (s *Server) startServer(ctx context.Context) error {
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c max_connections=200 -c shared_buffers=256MB", s.port, s.dir)
	if out, err := s.run(ctx, "pg_ctl", "-D", filepath.Join(s.dir, "data"), "-l", filepath.Join(s.dir, "server.log"), "-w", "-o", opts, "start"); err != nil {
		return fmt.Errorf("pg_ctl start: %v: %s", err, out)
	}
	return nil
}

// Kill sends SIGKILL to the server's postmaster, as a crash would, and
// waits until its backends, which notice the postmaster's death, have gone.
func (s *Server) Kill(ctx context.Context) error {
	b, err := os.ReadFile(filepath.Join(s.dir, "data", "postmaster.pid"))
	if err != nil {
		return err
	}
	pid, err := strconv.Atoi(strings.SplitN(string(b), "\n", 2)[0])
	if err != nil {
		return fmt.Errorf("postmaster.pid: %w", err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		return err
	}
	// The shared memory segment stays attached until every backend has
	// exited; the next start refuses to run before that.
	for {
		out, _ := exec.CommandContext(ctx, "ps", "-o", "pid=", "--ppid", strconv.Itoa(pid)).Output()
		if len(strings.TrimSpace(string(out))) == 0 {
			if syscall.Kill(pid, 0) != nil {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Restart starts the server again after Kill: PostgreSQL recovers from its
// write-ahead log.
func (s *Server) Restart(ctx context.Context) error { return s.startServer(ctx) }

func (s *Server) run(ctx context.Context, tool string, args ...string) ([]byte, error) {
	path := filepath.Join(s.bin, tool)
	var cmd *exec.Cmd
	if s.asUser != "" {
		cmd = exec.CommandContext(ctx, "runuser", append([]string{"-u", s.asUser, "--", path}, args...)...)
	} else {
		cmd = exec.CommandContext(ctx, path, args...)
	}
	return cmd.CombinedOutput()
}

// URL is the server's connection string.
func (s *Server) URL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres", s.port)
}

// Stop stops the server and removes its files.
func (s *Server) Stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, _ = s.run(ctx, "pg_ctl", "-D", filepath.Join(s.dir, "data"), "-m", "fast", "stop")
	os.RemoveAll(s.dir)
}
