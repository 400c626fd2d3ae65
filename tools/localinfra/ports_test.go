package localinfra

import "testing"

func TestFreePortsAreDistinct(t *testing.T) {
	for _, n := range []int{1, 9, 64} {
		ports, err := FreePorts(n)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[int]bool{}
		for _, p := range ports {
			if p <= 0 || seen[p] {
				t.Fatalf("FreePorts(%d) = %v: want %d distinct ports", n, ports, n)
			}
			seen[p] = true
		}
		if len(ports) != n {
			t.Fatalf("FreePorts(%d) returned %d ports", n, len(ports))
		}
	}
}
