package node

import "errors"

// ErrTooLarge is returned by a send whose encoded message is over the
// link's size limit (Config.Frame.MaxMessageSize, 128 MiB by default): the
// message was not sent and the link is untouched. The error names the
// size and the limit.
var ErrTooLarge = errors.New("node: message too large")
