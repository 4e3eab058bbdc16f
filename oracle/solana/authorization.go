package solana

import (
	"context"
	"fmt"
	"strings"

	sol "github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/rpc"
)

// Authorization returns the summary of epoch's phase 1 if it landed: the
// memo of the successful transaction that created one of the members'
// markers for the epoch. It is how an oracle that did not lead learns
// which manifest the chain authorised.
func (c *Chain) Authorization(ctx context.Context, members [][32]byte, epoch uint64) (Summary, bool, error) {
	markers := make([]sol.PublicKey, 0, len(members))
	for _, m := range members {
		k, err := MarkerAddress(m, epoch)
		if err != nil {
			return Summary{}, false, err
		}
		markers = append(markers, k)
	}
	r, err := c.rpc.GetMultipleAccountsWithOpts(ctx, markers, &rpc.GetMultipleAccountsOpts{Encoding: sol.EncodingBase64, Commitment: rpc.CommitmentFinalized})
	if err != nil {
		return Summary{}, false, fmt.Errorf("epoch %d authorisation: %w", epoch, err)
	}
	for i, a := range r.Value {
		if !isMarker(a, members[i]) {
			continue // no marker, or an address someone merely sent lamports to
		}
		seen, err := markerPhase1(ctx, c.rpc, markers[i], members, epoch)
		if err != nil {
			return Summary{}, false, fmt.Errorf("epoch %d authorisation: %w", epoch, err)
		}
		for _, p := range seen {
			if s, err := ParsePhase1Memo(p.Memo); err == nil && s.Epoch == epoch {
				return s, true, nil
			}
		}
	}
	return Summary{}, false, nil
}

// ParsePhase1Memo reads a summary back from its phase-1 memo text
// (Phase1Memo), ignoring anything after the root.
func ParsePhase1Memo(memo string) (Summary, error) {
	var s Summary
	var root string
	if _, err := fmt.Sscanf(memo, "hexfield rwd e=%d n=%d total=%d root=%s", &s.Epoch, &s.Count, &s.Total, &root); err != nil {
		return Summary{}, fmt.Errorf("phase-1 memo %q: %w", memo, err)
	}
	k, err := sol.PublicKeyFromBase58(strings.TrimRight(root, "; "))
	if err != nil {
		return Summary{}, fmt.Errorf("phase-1 memo root: %w", err)
	}
	s.Root = k
	if c := Phase1Memo(s); len(memo) < len(c) || memo[:len(c)] != c {
		return Summary{}, fmt.Errorf("phase-1 memo %q is not canonical", memo)
	}
	return s, nil
}

// Cosigned reports, for each member, whether its phase-1 marker for epoch exists (so it
// co-signed the epoch's phase 1). An address that was only funded (by the coordinator for
// a quorum that did not form, or by anyone) does not count.
func (c *Chain) Cosigned(ctx context.Context, members [][32]byte, epoch uint64) ([]bool, error) {
	markers := make([]sol.PublicKey, len(members))
	for i, m := range members {
		k, err := MarkerAddress(m, epoch)
		if err != nil {
			return nil, err
		}
		markers[i] = k
	}
	r, err := c.rpc.GetMultipleAccountsWithOpts(ctx, markers, &rpc.GetMultipleAccountsOpts{Encoding: sol.EncodingBase64, Commitment: rpc.CommitmentFinalized})
	if err != nil {
		return nil, fmt.Errorf("epoch %d markers: %w", epoch, err)
	}
	out := make([]bool, len(members))
	for i, a := range r.Value {
		out[i] = isMarker(a, members[i])
	}
	return out, nil
}
