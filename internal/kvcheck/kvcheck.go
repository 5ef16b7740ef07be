// Package kvcheck drives the key-value store's HTTP API as a Jepsen client
// does: concurrent reads, writes and compare-and-sets of a few keys through
// random nodes, recorded in a history for the linearizability checker.
// The store's own tests and the tests across containers share it.
package kvcheck

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/grovedev/grove/faultkit/check"
	"github.com/grovedev/grove/faultkit/history"
)

// Reply is an HTTP answer of the store, decoded.
type Reply struct {
	Code    int
	Value   *string
	Version uint64
	Err     error // transport error, or the error body of a non-200
}

// Do sends one request.
func Do(client *http.Client, method, url, body string) Reply {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return Reply{Err: err}
	}
	resp, err := client.Do(req)
	if err != nil {
		return Reply{Err: err}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out struct {
		Value   *string `json:"value"`
		Version uint64  `json:"version"`
		Error   string  `json:"error"`
	}
	_ = json.Unmarshal(b, &out)
	r := Reply{Code: resp.StatusCode, Value: out.Value, Version: out.Version}
	if resp.StatusCode != http.StatusOK {
		r.Err = fmt.Errorf("%d %s", resp.StatusCode, out.Error)
	}
	return r
}

// Definite tells whether a failed write certainly did not happen: the
// contract's 503, a 409 conflict, and the request errors (400, 404, 413).
// A 504 or a transport error leaves the outcome unknown.
func Definite(r Reply) bool {
	switch r.Code {
	case http.StatusServiceUnavailable, http.StatusConflict, http.StatusNotFound, http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		return true
	}
	return false
}

// Workload runs clients until stop, each doing reads, writes and
// compare-and-sets of keys through the store at a random one of the base
// URLs endpoints returns ("http://host:port"), and records every operation
// in rec. Written values are unique, so a version read stands for one
// value: a compare-and-set by version is the register model's cas(old
// value, new value). Every random choice comes from seed. The requests go
// through client (its Timeout bounds each; its Transport may add the admin
// API's token).
func Workload(seed uint64, clients int, keys []string, endpoints func() []string, client *http.Client, rec *history.Recorder, stop <-chan struct{}) {
	var wg sync.WaitGroup
	for p := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(seed, uint64(p)))
			n := 0
			for {
				select {
				case <-stop:
					return
				default:
				}
				eps := endpoints()
				if len(eps) == 0 {
					time.Sleep(10 * time.Millisecond)
					continue
				}
				key := keys[r.IntN(len(keys))]
				url := eps[r.IntN(len(eps))] + "/v1/kv/" + key
				switch r.IntN(3) {
				case 0:
					call := rec.Invoke(p, "read", key, nil)
					rep := Do(client, "GET", url, "")
					switch rep.Code {
					case http.StatusOK:
						call.OK(*rep.Value)
					case http.StatusNotFound:
						call.OK(nil)
					default:
						call.Fail(rep.Err) // a read has no effect
					}
				case 1:
					n++
					v := fmt.Sprintf("%d-%d", p, n)
					call := rec.Invoke(p, "write", key, v)
					complete(call, Do(client, "PUT", url, v))
				case 2:
					get := Do(client, "GET", url, "")
					var old any
					ver := uint64(0)
					switch get.Code {
					case http.StatusOK:
						old, ver = *get.Value, get.Version
					case http.StatusNotFound:
					default:
						continue
					}
					n++
					v := fmt.Sprintf("%d-%d", p, n)
					call := rec.Invoke(p, "cas", key, check.CAS{Old: old, New: v})
					complete(call, Do(client, "PUT", url+"?cas="+strconv.FormatUint(ver, 10), v))
				}
			}
		}()
	}
	wg.Wait()
}

func complete(call *history.Call, r Reply) {
	switch {
	case r.Err == nil:
		call.OK(nil)
	case Definite(r):
		call.Fail(r.Err)
	default:
		call.Info(r.Err)
	}
}

// Counts tallies a history's outcomes.
func Counts(h history.History) (ok, failed, unknown int) {
	for _, o := range h.Operations() {
		switch o.Outcome() {
		case history.OK:
			ok++
		case history.Fail:
			failed++
		default:
			unknown++
		}
	}
	return ok, failed, unknown
}
