package wire

import "testing"

func u32p(v uint32) *uint32 { return &v }

var orgChangeVectors = []golden{
	{"create with explicit blocks", &OrgChange{Org: "acme", Nonce: 7, TimestampMs: 1764633600000, Op: &OrgChange_Create{Create: &OrgCreate{
		Owner: vecOwner, Devaddr: &DevAddrBlocks{Start: u32p(0x02000000), Count: 2}}}},
		"0a0461636d65" + "1007" + "1880c0efe2ad33" + "522b" + "0a2006ddf6e1d765a193d9cbe146ceeb79ac1cb485ed5f5b37913a8cf5857eff00a9" + "220708808080101002"},
	{"put route", &OrgChange{Org: "acme", Nonce: 8, TimestampMs: 1, Op: &OrgChange_PutRoute{PutRoute: &RouteSpec{
		Id:                "r1",
		Lns:               []*LNSEndpoint{{Region: "EU868", Addr: "lns:1700"}},
		DevaddrRanges:     []*DevAddrRange{{Start: 0x02000000, End: 0x02000007}},
		EuiPairs:          []*EUIPair{{JoinEui: 1, DevEui: 2}},
		MaxCopies:         3,
		Active:            true,
		SessionKeyFilters: []*SessionKeyFilter{{DevAddr: 0x02000001, NwkSKey: []byte("0123456789abcdef")}},
	}}},
		"0a0461636d65100818017a460a02723112110a05455538363812086c6e733a313730301a0a08808080101087808010220408011002280330013a170881808010121030313233343536373839616263646566"},
	{"delete route", &OrgChange{Org: "acme", Nonce: 9, Op: &OrgChange_DeleteRoute{DeleteRoute: "r1"}}, "0a0461636d6510098201027231"},
	{"a block at DevAddr 0 (start present though zero)", &OrgChange{Org: "a", Nonce: 1, Op: &OrgChange_AddDevaddrBlocks{AddDevaddrBlocks: &DevAddrBlocks{Start: u32p(0)}}},
		"0a0161100172020800"},
}

var dcGrantVectors = []golden{
	{"grant", &DCGrant{Wallet: vecOwner, Amount: 1<<64 - 1, RequestId: []byte("0123456789abcdef"), TimestampMs: 1764633600000},
		"0a2006ddf6e1d765a193d9cbe146ceeb79ac1cb485ed5f5b37913a8cf5857eff00a9" + "10ffffffffffffffffff01" + "1a1030313233343536373839616263646566" + "2080c0efe2ad33"},
}

var makerApprovalVectors = []golden{
	{"approval", &MakerApproval{Hotspot: vecHotspot}, "0a2003a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8"},
}

func TestOrgChangeGolden(t *testing.T)     { testGolden(t, orgChangeVectors) }
func TestDCGrantGolden(t *testing.T)       { testGolden(t, dcGrantVectors) }
func TestMakerApprovalGolden(t *testing.T) { testGolden(t, makerApprovalVectors) }
