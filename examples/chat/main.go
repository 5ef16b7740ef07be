// Command chat is a chat room with presence, one process per node: run it
// three times and the three nodes form a cluster in which every line typed
// reaches every other participant, and everyone sees who comes and goes.
// Kill one (Ctrl-\ or kill -9) and the others see its user leave at once;
// start it again and it joins again.
//
//	go run ./examples/chat --name a@127.0.0.1 --listen 127.0.0.1:7001 --admin "" --cookie s3cret --user ann
//	go run ./examples/chat --name b@127.0.0.1 --listen 127.0.0.1:7002 --admin "" --cookie s3cret --user bob --join 127.0.0.1:7001
//	go run ./examples/chat --name c@127.0.0.1 --listen 127.0.0.1:7003 --admin "" --cookie s3cret --user cat --join 127.0.0.1:7001
//
// Type a line to say it, /who to list the room, /quit (or end the input) to
// leave. Every flag of `grove node` works: the node is an agent.Agent, the
// same library call the grove binary makes, and the room uses its PubSub
// and presence tracker.
package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"

	"github.com/spf13/pflag"

	"github.com/grovedev/grove/agent"
	"github.com/grovedev/grove/codec"
	"github.com/grovedev/grove/presence"
	"github.com/grovedev/grove/proc"
	"github.com/grovedev/grove/pubsub"
)

// Said is a line said in the room; it travels between nodes.
type Said struct {
	User string
	Text string
}

// Status is a participant's presence metadata.
type Status struct {
	Node string
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "chat:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, in io.Reader, out, errOut io.Writer) error {
	var cfg agent.Config
	fs := pflag.NewFlagSet("chat", pflag.ContinueOnError)
	cfg.RegisterFlags(fs)
	user := fs.String("user", "", "your name in the room (default: the node's name)")
	room := fs.String("room", "lobby", "the room to join")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(errOut, &slog.HandlerOptions{Level: slog.LevelWarn}))
	a, err := agent.Start(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer a.Close(context.Background())
	if *user == "" {
		*user, _, _ = strings.Cut(cfg.Name, "@")
	}
	for _, reg := range []error{
		codec.Register[Said](a.Node().Codec(), "examples.chat.Said"),
		codec.Register[Status](a.Node().Codec(), "examples.chat.Status"),
	} {
		if reg != nil {
			return reg
		}
	}
	c := &chat{a: a, topic: "room:" + *room, user: *user, out: out}
	if err := c.join(); err != nil {
		return err
	}
	fmt.Fprintf(out, "listening on %s\n", a.Node().Addr())
	c.printf("joined %s as %s (%d here)", c.topic, c.user, len(c.tr().List(c.topic)))

	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(in)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case line, ok := <-lines:
			if !ok || line == "/quit" {
				return nil
			}
			c.say(line)
		}
	}
}

// chat is one participant: a session process that holds the presence and
// receives the room's messages.
type chat struct {
	a     *agent.Agent
	topic string
	user  string
	pid   proc.PID

	mu  sync.Mutex
	out io.Writer
}

func (c *chat) tr() *presence.Tracker { return c.a.Presence() }

func (c *chat) printf(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fmt.Fprintf(c.out, format+"\n", args...)
}

func (c *chat) join() error {
	pid, err := c.a.Runtime().Spawn(proc.HandlerFunc(c.receive))
	if err != nil {
		return err
	}
	c.pid = pid
	// Subscribe first and track after, so that the room's list starts
	// from here and our own join arrives as a diff like anyone else's.
	if _, _, err := c.tr().Subscribe(pid, c.topic); err != nil {
		return err
	}
	return c.tr().Track(pid, c.topic, c.user, Status{Node: c.a.Node().Name()})
}

// receive runs in the session process for everything the room sends.
func (c *chat) receive(_ *proc.Process, msg any) {
	m, ok := msg.(*pubsub.Message)
	if !ok {
		return
	}
	if m.Dropped > 0 {
		c.printf("(%d messages lost: this terminal was too slow)", m.Dropped)
	}
	switch p := m.Payload.(type) {
	case Said:
		c.printf("%s: %s", p.User, p.Text)
	case presence.Diff:
		for _, l := range p.Leaves {
			if !hasKey(p.Joins, l.Key, l.PID) {
				c.printf("* %s left", l.Key)
			}
		}
		for _, j := range p.Joins {
			if j.PID != c.pid && !hasKey(p.Leaves, j.Key, j.PID) {
				c.printf("* %s is here (on %s)", j.Key, j.PID.Node)
			}
		}
	}
}

func hasKey(ps []presence.Presence, key string, pid proc.PID) bool {
	for _, p := range ps {
		if p.Key == key && p.PID == pid {
			return true
		}
	}
	return false
}

func (c *chat) say(line string) {
	line = strings.TrimSpace(line)
	switch {
	case line == "":
	case line == "/who":
		var who []string
		for _, p := range c.tr().List(c.topic) {
			who = append(who, p.Key)
		}
		slices.Sort(who)
		c.printf("here: %s", strings.Join(who, ", "))
	default:
		err := c.a.PubSub().BroadcastFrom(context.Background(), c.pid, c.topic, Said{User: c.user, Text: line})
		var be *pubsub.BroadcastError
		if errors.As(err, &be) {
			c.printf("(not delivered to %d node(s): %v)", len(be.Nodes), be)
		} else if err != nil {
			c.printf("(not sent: %v)", err)
		}
	}
}
