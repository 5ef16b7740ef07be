package supervisor

import (
	"context"
	"errors"

	"github.com/grovedev/grove/proc"
)

// TreeNode is one child in a supervision tree: its ChildInfo and, for a
// running child of type Supervisor, that supervisor's own children.
type TreeNode struct {
	ChildInfo
	Children []TreeNode
}

// Tree returns the supervision tree below sup, for tools such as a
// dashboard. It reads each supervisor's children through Runtime.Inspect,
// which static and dynamic supervisors both answer, so it walks trees that
// mix them. A supervisor that exits during the walk is shown without
// children.
func Tree(ctx context.Context, rt *proc.Runtime, sup proc.PID) ([]TreeNode, error) {
	v, err := rt.Inspect(ctx, sup)
	if err != nil {
		return nil, err
	}
	kids, ok := v.([]ChildInfo)
	if !ok {
		return nil, errors.New("supervisor: Tree: process is not a supervisor")
	}
	out := make([]TreeNode, len(kids))
	for i, k := range kids {
		out[i].ChildInfo = k
		if k.Type != Supervisor || k.Status != StatusRunning {
			continue
		}
		sub, err := Tree(ctx, rt, k.PID)
		switch {
		case err == nil:
			out[i].Children = sub
		case errors.Is(err, proc.ErrNotAlive):
		default:
			return nil, err
		}
	}
	return out, nil
}
