package oracle

import (
	"fmt"
	"strconv"
)

// A network's DevAddrs (LoRaWAN Backend Interfaces 1.0 §13): a DevAddr
// starts with its NetID's type prefix (type t: t one bits and a zero) and
// the NetID's NwkID (its low bits, 6 to 21 of them by type); the rest is
// the network's to assign. Organizations get blocks of devAddrBlock
// consecutive DevAddrs from that space (routing.md §2).

// devAddrBlock is the size of one DevAddr block [H].
const devAddrBlock = 8

// nwkIDBits is the NwkID length of each NetID type.
var nwkIDBits = [8]int{6, 6, 9, 11, 12, 13, 15, 17}

// devAddrPrefix is the DevAddr space of a network: Addr/Len in CIDR style.
type devAddrPrefix struct {
	Addr uint32
	Len  int
}

// first and last are the prefix's first and last DevAddr.
func (p devAddrPrefix) first() uint32 { return p.Addr }
func (p devAddrPrefix) last() uint32  { return p.Addr | (1<<(32-p.Len) - 1) }

func (p devAddrPrefix) contains(a uint32) bool { return a >= p.first() && a <= p.last() }

func (p devAddrPrefix) String() string { return fmt.Sprintf("%08x/%d", p.Addr, p.Len) }

// parseNetID parses a NetID of 6 hex digits and returns it with its
// DevAddr prefix.
func parseNetID(s string) (uint32, devAddrPrefix, error) {
	if len(s) != 6 {
		return 0, devAddrPrefix{}, fmt.Errorf("net_id %q must be 6 hex digits", s)
	}
	v, err := strconv.ParseUint(s, 16, 32)
	if err != nil {
		return 0, devAddrPrefix{}, fmt.Errorf("net_id %q must be 6 hex digits", s)
	}
	netID := uint32(v)
	t := int(netID >> 21)
	bits := nwkIDBits[t]
	nwkID := netID & (1<<bits - 1)
	typePrefix := uint32(1<<t-1) << 1 // t ones, then a zero: t+1 bits
	plen := t + 1 + bits
	addr := (typePrefix<<bits | nwkID) << (32 - plen)
	return netID, devAddrPrefix{Addr: addr, Len: plen}, nil
}
