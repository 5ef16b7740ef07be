package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/grovedev/grove/eventstore/storetest"
)

// TestMain runs the node processes that TestThreeNodesPostgres starts
// (this test binary, with the node's flags).
func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		o, err := parseFlags(os.Args[1:])
		if err == nil {
			err = runNode(context.Background(), os.Stdout, os.Stdin, o)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "bank node:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestEmbedded(t *testing.T) {
	var out bytes.Buffer
	err := run(context.Background(), &out, options{data: t.TempDir(), nodes: 1, accounts: 5, transfers: 60, seed: 7})
	t.Log(out.String())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "nothing made, nothing lost") {
		t.Fatal("no verdict")
	}
}

// TestThreeNodesPostgres runs the bank on three node processes that form a
// cluster, with the aggregates on its keyed processes and one PostgreSQL
// schema, kills one with SIGKILL and restarts it, and checks the books and
// the projection.
func TestThreeNodesPostgres(t *testing.T) {
	url, schema := storetest.PostgresSchema(t)
	var out bytes.Buffer
	err := run(context.Background(), &out, options{postgres: url, schema: schema, nodes: 3, accounts: 6, transfers: 60, seed: 11, self: os.Args[0]})
	t.Log(out.String())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"killed node1", "aggregates ran on 3 of 3 nodes", "agrees with the events", "nothing made, nothing lost"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("output lacks %q", want)
		}
	}
}
