package semtech

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestScanner(t *testing.T) {
	valid := []string{
		`{}`, ` { } `, `{"a":1}`, `{"a":-0.5e+3,"b":[1,2,{"c":null}],"d":"x\"\\\/\b\f\n\r\t\u00e9","e":true,"f":false}`,
		"{\"\xff\":\"\xfe\"}", `{"a":[]}`, `{"a":{}}`, `{"a":0}`, `{"a":1E9}`,
	}
	invalid := []string{
		``, ` `, `[]`, `{`, `}`, `{"a"}`, `{"a":}`, `{"a":1,}`, `{"a":1 "b":2}`, `{a:1}`, `{"a":01}`, `{"a":1.}`,
		`{"a":.5}`, `{"a":1e}`, `{"a":-}`, `{"a":tru}`, `{"a":nul}`, `{"a":"\x"}`, `{"a":"\u12"}`, `{"a":"\u12g4"}`,
		"{\"a\":\"\x01\"}", `{"a":"unterminated}`, `{"a":[1,2}`, `{"a":[1,]}`, `{"a":1}x`, `{"a":1}{}`, `{"a":+1}`,
		`{"a":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`,
	}
	for _, s := range valid {
		if err := eachField([]byte(s), func(k, v []byte) error { return nil }); err != nil {
			t.Errorf("eachField(%q) = %v", s, err)
		}
	}
	for _, s := range invalid {
		err := eachField([]byte(s), func(k, v []byte) error { return nil })
		if !errors.Is(err, ErrJSON) {
			t.Errorf("eachField(%q) = %v, want ErrJSON", s, err)
		}
	}
	// Members come in order with raw values; escaped keys are unquoted.
	var got []string
	eachField([]byte(`{"a" : 1 , "b\u0063":"x", "d":[ 1 ]}`), func(k, v []byte) error {
		got = append(got, string(k)+"="+string(v))
		return nil
	})
	if strings.Join(got, ";") != `a=1;bc="x";d=[ 1 ]` {
		t.Errorf("members %q", got)
	}
}

// FuzzScanner checks the scanner accepts exactly the JSON objects
// encoding/json accepts (up to the nesting limit).
func FuzzScanner(f *testing.F) {
	for _, s := range []string{specUplinkJSON, specBeaconJSON, specStatJSON, specPullRespJSON, `{"a":[{"b":"\u00e9"}]}`, `{"a":1,}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		err := eachField(b, func(k, v []byte) error {
			// Every value handed out is itself valid JSON.
			if !json.Valid(v) {
				t.Fatalf("value %q of %q is not valid JSON", v, b)
			}
			return nil
		})
		if err != nil && strings.Contains(err.Error(), "nested too deeply") {
			return
		}
		trimmed := strings.TrimLeft(string(b), " \t\r\n")
		want := json.Valid(b) && strings.HasPrefix(trimmed, "{")
		if (err == nil) != want {
			t.Fatalf("eachField(%q) = %v; json.Valid %v", b, err, json.Valid(b))
		}
	})
}
