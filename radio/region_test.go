package radio

import (
	"errors"
	"slices"
	"testing"

	"github.com/brocaar/lorawan/band"
)

// The poc-rules §3 table, written out independently of the region files.
func TestRegionTable(t *testing.T) {
	mhz := func(fs ...float64) []Hz {
		out := make([]Hz, len(fs))
		for i, f := range fs {
			out[i] = Hz(f*1e6 + 0.5)
		}
		return out
	}
	step := func(first float64, n int) []Hz {
		out := make([]Hz, n)
		for i := range out {
			out[i] = Hz((first+0.2*float64(i))*1e6 + 0.5)
		}
		return out
	}
	au := []Spreading{{25, 12}, {25, 11}, {25, 10}, {67, 9}, {139, 8}, {256, 7}}
	for _, tc := range []struct {
		name      string
		channels  []Hz
		eirp      int
		spreading []Spreading
		beacon    string // "" = none
	}{
		{"US915", step(903.9, 8), 360, []Spreading{{25, 10}, {67, 9}, {139, 8}, {256, 7}}, "SF9BW125"},
		{"EU868", step(867.1, 8), 161, []Spreading{{65, 12}, {129, 9}, {238, 8}}, "SF12BW125"},
		{"AU915", step(916.8, 8), 300, au, "SF9BW125"},
		{"AS923-1", step(923.2, 8), 160, au, "SF9BW125"},
		{"AS923-2", step(921.4, 8), 160, au, "SF9BW125"},
		{"AS923-3", step(916.6, 8), 160, au, "SF9BW125"},
		{"AS923-4", step(917.3, 8), 160, au, "SF9BW125"},
		{"EU433", mhz(433.175, 433.375, 433.575), 121, au, "SF9BW125"},
		{"CN470", step(486.3, 8), 191, au, ""},
		// Not in the poc-rules table: LoRaWAN regional parameters via band.
		{"KR920", mhz(922.1, 922.3, 922.5), 140, au, "SF9BW125"},
		{"IN865", mhz(865.0625, 865.4025, 865.985), 300, au, "SF9BW125"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := LookupRegion(tc.name)
			if err != nil {
				t.Fatal(err)
			}
			if r.Name != tc.name {
				t.Errorf("Name = %q", r.Name)
			}
			if !slices.Equal(r.Channels, tc.channels) {
				t.Errorf("channels = %v, want %v", r.Channels, tc.channels)
			}
			if r.MaxEIRPddBm != tc.eirp {
				t.Errorf("max EIRP = %d ddBm, want %d", r.MaxEIRPddBm, tc.eirp)
			}
			if !slices.Equal(r.Spreading, tc.spreading) {
				t.Errorf("spreading = %v, want %v", r.Spreading, tc.spreading)
			}
			dr, ok := r.BeaconDataRate()
			if tc.beacon == "" {
				if ok {
					t.Errorf("beacon data rate %v, want none", dr)
				}
				return
			}
			if !ok || dr.String() != tc.beacon {
				t.Errorf("beacon data rate = %v, %v; want %s", dr, ok, tc.beacon)
			}
		})
	}
}

func TestLookupRegion(t *testing.T) {
	all := Regions()
	want := []string{"US915", "EU868", "AU915", "AS923-1", "AS923-2", "AS923-3", "AS923-4", "KR920", "IN865", "EU433", "CN470"}
	var got []string
	for _, r := range all {
		got = append(got, r.Name)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("Regions() = %v, want %v", got, want)
	}
	for _, name := range []string{"", "us915", "AS923", "EU 868", "RU864"} {
		if _, err := LookupRegion(name); !errors.Is(err, ErrUnknownRegion) {
			t.Errorf("LookupRegion(%q): err = %v, want ErrUnknownRegion", name, err)
		}
	}
	// Each lookup is a fresh copy: changing one does not change the next.
	a, _ := LookupRegion("EU868")
	a.Channels[0] = 1
	a.MaxEIRPddBm = 999
	b, _ := LookupRegion("EU868")
	if b.Channels[0] != 867_100_000 || b.MaxEIRPddBm != 161 {
		t.Fatalf("LookupRegion returned shared state: %v %d", b.Channels[0], b.MaxEIRPddBm)
	}
}

// TestRegionsAgreeWithBand checks each region's data against the LoRaWAN
// regional parameters encoded in brocaar/lorawan/band:
//   - the band knows the region name and the beacon data rate as an uplink
//     LoRa data rate;
//   - the 52-byte beacon frame fits the band's maximum PHYPayload at that
//     data rate (MACPayload M + MHDR + MIC), under the region's dwell time;
//   - each beacon channel is one of the band's standard uplink channels, or
//     the band accepts extra channels and the channel lies inside the
//     region's frequency edges;
//   - each spreading-list entry stays within the band's payload limit at
//     its spreading factor (Helium's sizes are exclusive bounds: MaxBytes−1);
//   - the maximum EIRP equals the band's default (EU868 16.1, EU433 12.1,
//     CN470 19.1 and US915 36 are the poc-rules values: ETSI/FCC figures
//     the band rounds or gives as 30 dBm conducted);
//   - in dwell-time regions the beacon's airtime is within the dwell time.
func TestRegionsAgreeWithBand(t *testing.T) {
	eirpFromTable := map[string]int{"US915": 360, "EU868": 161, "EU433": 121, "CN470": 191}
	for _, r := range Regions() {
		t.Run(r.Name, func(t *testing.T) {
			b, err := r.LoRaWANBand()
			if err != nil {
				t.Fatal(err)
			}
			bandEIRP := int(float64(b.GetDefaultMaxUplinkEIRP()) * 10) // truncated: 12.15 → 121
			if want, ok := eirpFromTable[r.Name]; ok {
				if r.MaxEIRPddBm != want {
					t.Errorf("max EIRP %d, want the poc-rules %d", r.MaxEIRPddBm, want)
				}
				if r.MaxEIRPddBm < bandEIRP {
					t.Errorf("max EIRP %d below the band default %d", r.MaxEIRPddBm, bandEIRP)
				}
			} else if r.MaxEIRPddBm != bandEIRP {
				t.Errorf("max EIRP %d ddBm, band says %d", r.MaxEIRPddBm, bandEIRP)
			}

			standard := map[Hz]bool{}
			for _, i := range b.GetStandardUplinkChannelIndices() {
				c, err := b.GetUplinkChannel(i)
				if err != nil {
					t.Fatal(err)
				}
				standard[Hz(c.Frequency)] = true
			}
			half := r.Bandwidth / 2
			for _, f := range r.Channels {
				if f-half < r.MinFrequency || f+half > r.MaxFrequency {
					t.Errorf("channel %d Hz outside %d–%d", f, r.MinFrequency, r.MaxFrequency)
				}
				if standard[f] {
					continue
				}
				if err := b.AddChannel(uint32(f), 0, 5); err != nil {
					t.Errorf("channel %d Hz is not a standard channel and band refuses it: %v", f, err)
				}
			}

			for _, s := range r.Spreading {
				idx, err := b.GetDataRateIndex(true, band.DataRate{Modulation: band.LoRaModulation, SpreadFactor: s.SF, Bandwidth: int(r.Bandwidth / 1000)})
				if err != nil {
					t.Errorf("SF%d: not a band data rate: %v", s.SF, err)
					continue
				}
				m, err := b.GetMaxPayloadSizeForDataRateIndex("", "", idx)
				if err != nil {
					t.Fatal(err)
				}
				if m.M == 0 {
					continue // the band forbids this data rate (dwell time); never a beacon DR, see below
				}
				if phy := m.M + 5; s.MaxBytes-1 > phy {
					t.Errorf("SF%d: spreading max %d bytes, band allows %d", s.SF, s.MaxBytes, phy)
				}
			}

			dr, ok := r.BeaconDataRate()
			if !ok {
				if !r.NoBeacon {
					t.Fatal("no beacon data rate")
				}
				return
			}
			idx, err := b.GetDataRateIndex(true, band.DataRate{Modulation: band.LoRaModulation, SpreadFactor: dr.SF, Bandwidth: int(dr.Bandwidth / 1000)})
			if err != nil {
				t.Fatalf("beacon data rate %v unknown to band: %v", dr, err)
			}
			m, err := b.GetMaxPayloadSizeForDataRateIndex("", "", idx)
			if err != nil {
				t.Fatal(err)
			}
			if m.M+5 < BeaconFrameSize {
				t.Errorf("beacon frame %d bytes exceeds the band's %d at %v", BeaconFrameSize, m.M+5, dr)
			}
			if r.DwellTime > 0 {
				if at := Airtime(dr, BeaconFrameSize); at > r.DwellTime {
					t.Errorf("beacon airtime %v exceeds the dwell time %v", at, r.DwellTime)
				}
			}
		})
	}
}

func TestBeaconDataRateRule(t *testing.T) {
	r := &Region{Bandwidth: 250_000, Spreading: []Spreading{{50, 12}, {51, 10}, {100, 9}}}
	if dr, ok := r.BeaconDataRate(); !ok || dr != (DataRate{SF: 10, Bandwidth: 250_000}) {
		t.Errorf("first entry ≥ 51 at the channel bandwidth: got %v, %v", dr, ok)
	}
	r.Spreading = []Spreading{{25, 10}, {50, 9}}
	if dr, ok := r.BeaconDataRate(); ok {
		t.Errorf("no entry ≥ 51: got %v", dr)
	}
	var nilRegion *Region
	if _, ok := nilRegion.BeaconDataRate(); ok {
		t.Errorf("nil region has a beacon data rate")
	}
}
