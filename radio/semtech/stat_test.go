package semtech

import (
	"testing"
	"time"
)

func TestStatTimeLayouts(t *testing.T) {
	want := time.Date(2011, 1, 1, 6, 4, 25, 0, time.UTC)
	for _, s := range []string{"2011-01-01 06:04:25 GMT", "2011-01-01T06:04:25Z", "2011-01-01T06:04:25", "2011-01-01 06:04:25", "2011-01-01T08:04:25+02:00"} {
		var st Stat
		if err := st.UnmarshalJSON([]byte(`{"time":"` + s + `","rxnb":1}`)); err != nil || !st.Time.Equal(want) || st.RXNb != 1 {
			t.Errorf("stat time %q → %v, %v", s, st.Time, err)
		}
	}
	var st Stat
	if err := st.UnmarshalJSON([]byte(`{"time":"soon","rxnb":3,"temp":41.5}`)); err != nil || !st.Time.IsZero() || st.RXNb != 3 || *st.Temp != 41.5 {
		t.Errorf("bad stat time not dropped: %+v, %v", st, err)
	}
}

func TestStatJSON(t *testing.T) {
	temp := 41.5
	st := Stat{Time: time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC), Lati: ptr(52.37), Long: ptr(4.89), Alti: ptr(3), RXNb: 2, RXOk: 2, RXFw: 2, ACKR: 100, DWNb: 1, TXNb: 1, Temp: &temp}
	b, err := st.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	want := specStatJSON[8:len(specStatJSON)-2] + `,"temp":41.5}`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
	var back Stat
	if err := back.UnmarshalJSON(b); err != nil || *back.Temp != temp || *back.Alti != 3 || back.ACKR != 100 {
		t.Errorf("round trip %+v, %v", back, err)
	}
	for _, bad := range []string{`{"lati":91}`, `{"long":-181}`, `{"rxnb":-1}`, `{"alti":"high"}`, `{"ackr":true}`, `[]`, `{`} {
		var s Stat
		if err := s.UnmarshalJSON([]byte(bad)); err == nil {
			t.Errorf("Stat %s accepted", bad)
		}
	}
}

func FuzzStat(f *testing.F) {
	f.Add([]byte(specStatJSON[8 : len(specStatJSON)-1]))
	f.Add([]byte(`{"time":"2011-01-01T06:04:25Z","rxnb":1,"temp":41.5}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var s Stat
		if err := s.UnmarshalJSON(data); err != nil {
			return
		}
		b1, err := s.MarshalJSON()
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		var s2 Stat
		if err := s2.UnmarshalJSON(b1); err != nil {
			t.Fatalf("decode %s: %v", b1, err)
		}
		b2, err := s2.MarshalJSON()
		if err != nil || string(b1) != string(b2) {
			t.Fatalf("unstable: %s vs %s (%v)", b1, b2, err)
		}
	})
}
