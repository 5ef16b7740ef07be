// Package e2e holds end-to-end tests of `grove node`: across Docker
// containers (real addresses, Docker's DNS, kills and partitions), and as
// OS processes on loopback under attack (TestFloodOnEveryPort floods every
// port a node listens on). The container tests build a FROM scratch image
// of the static binary themselves and skip, with a message saying why,
// where no Docker engine answers; the process tests build the binary and
// skip with -short.
package e2e
