package bank

import (
	"errors"

	"github.com/grovedev/grove/codec"
	"github.com/grovedev/grove/eventsourcing"
)

// Error codes of the bank's refusals on the wire.
const (
	codeNoAccount uint32 = 1100 + iota
	codeOpen
	codeBadAmount
	codeNoTransfer
	codeSameAccount
)

// RegisterTypes registers the bank's commands and refusals in a node's
// codec, with what an eventsourcing.ClusterHost needs, for a bank whose
// aggregates run on the nodes of a cluster. Call it on every node before
// the node starts.
func RegisterTypes(r *codec.Registry) error {
	if err := eventsourcing.RegisterTypes(r); err != nil {
		return err
	}
	regs := []error{
		codec.Register[Open](r, "bank.Open"),
		codec.Register[Debit](r, "bank.Debit"),
		codec.Register[Credit](r, "bank.Credit"),
		codec.Register[RequestTransfer](r, "bank.RequestTransfer"),
		codec.Register[CompleteTransfer](r, "bank.CompleteTransfer"),
		codec.Register[FailTransfer](r, "bank.FailTransfer"),
	}
	for code, err := range map[uint32]error{
		codeNoAccount: ErrNoAccount, codeOpen: ErrOpen, codeBadAmount: ErrBadAmount,
		codeNoTransfer: ErrNoTransfer, codeSameAccount: ErrSameAccount,
	} {
		regs = append(regs, r.RegisterError(code, err))
	}
	for _, err := range regs {
		if err != nil && !errors.Is(err, codec.ErrDuplicate) {
			return err
		}
	}
	return nil
}
