package verifier

import (
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hexfield/hexfield/radio"
)

// docs/poc-rules.md is the published rule book. It must name every reason
// code of the code with its number, and every parameter (every field of
// Params, Params.Detectors and the region fields behind the prescribed
// power), with its default on the same table row.
func TestRulesDocumentCoversTheCode(t *testing.T) {
	raw, err := os.ReadFile("../docs/poc-rules.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	rows := strings.Split(doc, "\n")
	for r := range Reason(NumReasons) {
		want := fmt.Sprintf("| %d | `%s`", r, r)
		if !strings.Contains(doc, want) {
			t.Errorf("reason %d %s: no %q in the reason table", r, r, want)
		}
	}
	// rowOf returns the parameter table row naming field, after the
	// "Parameters and defaults" heading.
	params := doc[strings.Index(doc, "## 12. Parameters and defaults"):]
	rowOf := func(field string) string {
		for _, l := range strings.Split(params, "\n") {
			if strings.HasPrefix(l, "|") && strings.Contains(l, "`"+field+"`") {
				return l
			}
		}
		return ""
	}
	check := func(field string, v reflect.Value) {
		if !strings.Contains(doc, "`"+field+"`") {
			t.Errorf("parameter %s is not in the document", field)
			return
		}
		row := rowOf(field)
		if row == "" {
			t.Errorf("parameter %s has no row in the parameter tables", field)
			return
		}
		var def string
		switch x := v.Interface().(type) {
		case time.Duration:
			def = docDuration(x)
		case float64:
			def = strconv.FormatFloat(x, 'f', -1, 64)
		case int, int64, uint32, radio.Hz:
			def = fmt.Sprint(x)
			if hz, ok := x.(radio.Hz); ok && hz%1000 == 0 {
				def = fmt.Sprintf("%d kHz", hz/1000)
			}
		case bool:
			def = fmt.Sprint(x)
		default:
			return // structured (the density table, keys, deny list): named is enough
		}
		if !strings.Contains(row, def) {
			t.Errorf("parameter %s: default %s is not on its row %q", field, def, row)
		}
	}
	p := DefaultParams()
	pv := reflect.ValueOf(p)
	for i := range pv.NumField() {
		check(pv.Type().Field(i).Name, pv.Field(i))
	}
	dv := reflect.ValueOf(p.Detectors)
	for i := range dv.NumField() {
		check(dv.Type().Field(i).Name, dv.Field(i))
	}
	for _, f := range []string{"MaxEIRPddBm", "MaxConductedDBm"} {
		if !strings.Contains(doc, "`"+f+"`") {
			t.Errorf("region parameter %s is not in the document", f)
		}
	}
	// The beacon table's caps and KR920's channel count agree with radio.
	for _, r := range radio.Regions() {
		found := false
		for _, l := range rows {
			if !strings.HasPrefix(l, "| "+r.Name+" ") && !(strings.HasPrefix(r.Name, "AS923") && strings.HasPrefix(l, "| AS923-1 ")) {
				continue
			}
			found = true
			if r.MaxConductedDBm != 0 && !strings.Contains(l, fmt.Sprintf("%d dBm |", r.MaxConductedDBm)) {
				t.Errorf("%s: cap %d dBm not in %q", r.Name, r.MaxConductedDBm, l)
			}
			if n := len(r.Channels); !strings.Contains(l, fmt.Sprintf("(%d)", n)) && !strings.Contains(l, fmt.Sprintf("(**%d**)", n)) && !strings.Contains(l, fmt.Sprintf("(%d each)", n)) {
				t.Errorf("%s: %d channels not in %q", r.Name, len(r.Channels), l)
			}
		}
		if !found {
			t.Errorf("region %s has no row in the beacon table", r.Name)
		}
	}
}

// docDuration writes a duration as the document does: "24 h", "30 min",
// "180 s", or whole milliseconds below 10 s.
func docDuration(d time.Duration) string {
	switch {
	case d%time.Hour == 0:
		return fmt.Sprintf("%d h", d/time.Hour)
	case d%time.Minute == 0 && d >= 10*time.Minute:
		return fmt.Sprintf("%d min", d/time.Minute)
	case d >= 10*time.Second && d%time.Second == 0:
		return fmt.Sprintf("%d s", d/time.Second)
	}
	return fmt.Sprint(d.Milliseconds())
}
