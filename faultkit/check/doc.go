// Package check judges histories recorded with package faultkit/history
// against what a system promises.
//
//   - Linearizable: key-value registers (read, write, cas), partitioned
//     per key, checked with github.com/anishathalye/porcupine. Operations
//     of unknown outcome may have taken effect at any time after their
//     invocation. A check that times out is Inconclusive, never a pass;
//     the HTML visualisation of a failing or inconclusive check is written
//     to a file whose path the result carries.
//   - Set: acknowledged adds must all be present, nothing unexpected.
//   - Counter: the final value must lie between what acknowledged adds
//     imply and what every attempted add could add.
//   - TotalQueue: every acknowledged enqueue delivered, nothing delivered
//     twice or out of thin air.
//   - Converged, WaitConverged and EventuallyConverges: replicas agree
//     (after a heal).
//
// Every checker returns a result with a Verdict and the offending
// elements; the Require and Eventually helpers fail a test with them.
package check
