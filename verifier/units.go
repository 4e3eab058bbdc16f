package verifier

import "math/big"

// UnitTable holds the HIP-15 reward units per beacon, in 10⁻⁴ units,
// indexed by the number w of selected valid witnesses (0 … MaxWitnesses).
type UnitTable struct {
	Beaconer []uint32
	Witness  []uint32
}

// RewardUnits computes the HIP-15 units table of poc-rules §8 from the
// parameters: beaconer w/N for w ≤ N, min(cap, cap − r^(w−N)) above; each
// selected witness 1 for w ≤ N, min(cap, (N − (1 − r^(w−N)))/w) above;
// both 0 for w = 0. Values are computed exactly and rounded half-to-even
// to 4 decimals, which reproduces the table of the spec.
func RewardUnits(p Params) UnitTable {
	t := UnitTable{
		Beaconer: make([]uint32, p.MaxWitnesses+1),
		Witness:  make([]uint32, p.MaxWitnesses+1),
	}
	for w := 1; w <= p.MaxWitnesses; w++ {
		t.Beaconer[w], t.Witness[w] = unitsFor(p, w)
	}
	return t
}

// unitsFor computes one column of the HIP-15 table (see RewardUnits).
func unitsFor(p Params, w int) (beaconer, witness uint32) {
	if w <= 0 {
		return 0, 0
	}
	n := int64(p.UnitsN)
	capR := new(big.Rat).SetInt64(p.UnitsCap)
	var b, x *big.Rat
	if int64(w) <= n {
		b = big.NewRat(int64(w), n)
		x = big.NewRat(1, 1)
	} else {
		k := int64(w) - n
		num := new(big.Int).Exp(big.NewInt(p.DecayNum), big.NewInt(k), nil)
		den := new(big.Int).Exp(big.NewInt(p.DecayDen), big.NewInt(k), nil)
		rk := new(big.Rat).SetFrac(num, den)
		b = new(big.Rat).Sub(capR, rk)
		// (N − (1 − r^k)) / w
		x = new(big.Rat).Sub(new(big.Rat).SetInt64(n), new(big.Rat).Sub(big.NewRat(1, 1), rk))
		x.Quo(x, big.NewRat(int64(w), 1))
	}
	if b.Cmp(capR) > 0 {
		b = capR
	}
	if x.Cmp(capR) > 0 {
		x = capR
	}
	return uint32(roundRat(b, scaleOne)), uint32(roundRat(x, scaleOne))
}

// roundRat returns x × scale rounded half to even, for x ≥ 0.
func roundRat(x *big.Rat, scale int64) uint64 {
	num := new(big.Int).Mul(x.Num(), big.NewInt(scale))
	q, r := new(big.Int).QuoRem(num, x.Denom(), new(big.Int))
	r2 := new(big.Int).Lsh(r, 1)
	switch c := r2.Cmp(x.Denom()); {
	case c > 0, c == 0 && q.Bit(0) == 1:
		q.Add(q, big.NewInt(1))
	}
	return q.Uint64()
}
