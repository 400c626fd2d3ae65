package bench

import (
	"reflect"
	"testing"
)

// TestKneeSearch drives the search with scripted verdicts and checks the rates it tries
// and the knee it settles on.
func TestKneeSearch(t *testing.T) {
	cfg := Config{StartRate: 10, Growth: 2, Refine: 2, MaxRate: 1000}
	cases := []struct {
		name      string
		sustained float64 // highest rate that passes
		wantRates []float64
		wantKnee  float64
	}{
		{"grows then bisects", 50, []float64{10, 20, 40, 80, 56.6, 47.6}, 47.6},
		{"bisects upwards", 70, []float64{10, 20, 40, 80, 56.6, 67.3}, 67.3},
		{"nothing sustained", 5, []float64{10}, 0},
		{"stops at the maximum", 5000, []float64{10, 20, 40, 80, 160, 320, 640}, 640},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			k := &kneeSearch{target: "x"}
			var rates []float64
			for rate := k.next(cfg); rate != 0; rate = k.next(cfg) {
				rates = append(rates, rate)
				k.record(Stats{OfferedRate: rate, Passed: rate <= tc.sustained})
				if len(rates) > 20 {
					t.Fatal("the search does not end")
				}
			}
			if !reflect.DeepEqual(rates, tc.wantRates) || k.rate != tc.wantKnee {
				t.Fatalf("tried %v, knee %v; want %v, knee %v", rates, k.rate, tc.wantRates, tc.wantKnee)
			}
			if best := k.best(); (best == nil) != (tc.wantKnee == 0) || (best != nil && best.OfferedRate != tc.wantKnee) {
				t.Fatalf("best step %+v, want the step at %v", best, tc.wantKnee)
			}
		})
	}
}
