package resp

import (
	"math"
	"strconv"
	"testing"
)

// Floats are written in plain decimal notation where Redis would take an
// integral one for an integer (INCRBY, SETRANGE, EXPIRE: "1e+06" is no
// integer to them), and in exponent notation only beyond 1e21 and below
// 1e-7; always with the shortest digits that round trip.
func TestAppendFloatNotation(t *testing.T) {
	for _, tt := range []struct {
		f    float64
		want string
	}{
		{0, "0"}, {math.Copysign(0, -1), "-0"}, {1, "1"}, {-2.5, "-2.5"}, {0.1, "0.1"},
		{1e6, "1000000"}, {-1e6, "-1000000"}, {1e7, "10000000"}, {123456789, "123456789"},
		{1e17, "100000000000000000"}, {9.223372036854775e18, "9223372036854775000"},
		{1e20, "100000000000000000000"}, {1e21, "1e+21"}, {1.5e300, "1.5e+300"}, {1e300, "1e+300"},
		{1e-7, "0.0000001"}, {1.5e-5, "0.000015"}, {1e-8, "1e-08"}, {1e-300, "1e-300"},
		{5e-324, "5e-324"}, {math.MaxFloat64, "1.7976931348623157e+308"},
		{math.Inf(1), "inf"}, {math.Inf(-1), "-inf"}, {math.NaN(), "nan"},
	} {
		want := "$" + strconv.Itoa(len(tt.want)) + "\r\n" + tt.want + "\r\n"
		if got := string(AppendBulkFloat([]byte("x"), tt.f)); got != "x"+want {
			t.Errorf("AppendBulkFloat(%v) = %q, want %q", tt.f, got, "x"+want)
		}
		if got := string(AppendDouble(nil, tt.f)); got != ","+tt.want+"\r\n" {
			t.Errorf("AppendDouble(%v) = %q, want %q", tt.f, got, ","+tt.want+"\r\n")
		}
		if math.IsNaN(tt.f) {
			continue
		}
		if back, err := ParseDouble(tt.want); err != nil || back != tt.f || math.Signbit(back) != math.Signbit(tt.f) {
			t.Errorf("%q reads back as %v, %v; want %v", tt.want, back, err, tt.f)
		}
	}
	for _, tt := range []struct {
		f    float32
		want string
	}{
		{0.1, "0.1"}, {1e7, "10000000"}, {16777216, "16777216"}, {1e20, "100000000000000000000"},
		{1e21, "1e+21"}, {3e38, "3e+38"}, {1e-7, "0.0000001"}, {1e-8, "1e-08"},
		{float32(math.Inf(-1)), "-inf"}, {float32(math.Copysign(0, -1)), "-0"},
	} {
		want := "$" + strconv.Itoa(len(tt.want)) + "\r\n" + tt.want + "\r\n"
		if got := string(AppendBulkFloat32(nil, tt.f)); got != want {
			t.Errorf("AppendBulkFloat32(%v) = %q, want %q", tt.f, got, want)
		}
	}
	if got, err := AppendCommand(nil, "INCRBY", "k", 1e6); err != nil || string(got) != "*3\r\n$6\r\nINCRBY\r\n$1\r\nk\r\n$7\r\n1000000\r\n" {
		t.Errorf("AppendCommand(INCRBY k 1e6) = %q, %v", got, err)
	}
}

// Every float64 is written in a form that reads back as itself.
func FuzzAppendBulkFloat(f *testing.F) {
	for _, s := range []float64{0, 1e6, 1e21, 1e-7, 5e-324, math.MaxFloat64, 0.1} {
		f.Add(math.Float64bits(s))
	}
	f.Fuzz(func(t *testing.T, bits uint64) {
		v := math.Float64frombits(bits)
		b := AppendDouble(nil, v)
		text := string(b[1 : len(b)-2])
		back, err := ParseDouble(text)
		if err != nil || (back != v && !(math.IsNaN(v) && math.IsNaN(back))) || math.Signbit(back) != math.Signbit(v) && !math.IsNaN(v) {
			t.Fatalf("%v written as %q reads back as %v, %v", v, text, back, err)
		}
		if a := math.Abs(v); a >= 1e-7 && a < 1e21 {
			for _, c := range text {
				if c == 'e' {
					t.Fatalf("%v written as %q: exponent in the plain range", v, text)
				}
			}
		}
	})
}
