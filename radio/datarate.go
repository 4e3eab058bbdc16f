package radio

import (
	"fmt"
	"strconv"
	"strings"
)

// DataRate is a LoRa data rate: spreading factor and bandwidth.
type DataRate struct {
	SF        int // spreading factor, 7–12
	Bandwidth Hz  // 125 000, 250 000 or 500 000
}

// ParseDataRate parses the Semtech form "SF9BW125". It accepts only LoRa
// SF7–SF12 with BW125, BW250 or BW500.
func ParseDataRate(s string) (DataRate, error) {
	rest, ok := strings.CutPrefix(s, "SF")
	if !ok {
		return DataRate{}, fmt.Errorf("data rate %q: not LoRa SFxBWy", s)
	}
	sfText, bwText, ok := strings.Cut(rest, "BW")
	if !ok {
		return DataRate{}, fmt.Errorf("data rate %q: no bandwidth", s)
	}
	sf, err := strconv.Atoi(sfText)
	if err != nil || sf < 7 || sf > 12 {
		return DataRate{}, fmt.Errorf("data rate %q: spreading factor must be 7–12", s)
	}
	bw, err := strconv.Atoi(bwText)
	if err != nil || (bw != 125 && bw != 250 && bw != 500) {
		return DataRate{}, fmt.Errorf("data rate %q: bandwidth must be 125, 250 or 500 kHz", s)
	}
	return DataRate{SF: sf, Bandwidth: Hz(bw * 1000)}, nil
}

// String returns the Semtech form, e.g. "SF9BW125".
func (d DataRate) String() string {
	return fmt.Sprintf("SF%dBW%d", d.SF, d.Bandwidth/1000)
}
