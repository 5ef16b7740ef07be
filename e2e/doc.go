// Package e2e holds end-to-end tests of `grove node` across Docker
// containers: real addresses, Docker's DNS, kills and partitions. The tests
// build a FROM scratch image of the static binary themselves and skip, with
// a message saying why, where no Docker engine answers.
package e2e
